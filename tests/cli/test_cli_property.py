"""Generated workload TOMLs, trace CSVs and option values thrown at `slobench run`: the
answer is always exit 0 or exit 2 with one `slobench: ...` line, never a traceback, and
nothing is written outside --out (issue 13). Bounded: a few dozen examples each."""

from __future__ import annotations

import json
import math
import os
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cli_inproc import Ran, invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slobench.workloads.scenario import workloads_dir

BOUNDED = settings(max_examples=30, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow])
SMALL_RUN = ["--rates", "1", "--requests", "4", "--backends", "vllm", "--gpus", "1", "--tp",
             "1", "--no-report"]
KEYS = ["name", "description", "source", "arrival", "kind", "classes", "stages", "weight",
        "ttft_slowdown", "tpot_ms", "output", "prompt", "dist", "value", "median", "sigma",
        "points", "burstiness", "mean_group_size", "spread_s", "calls", "tool_result",
        "tool_delay_s", "lengths", "from", "window_s", "nosuch"]

# Values kept small: a valid but enormous workload (a billion calls) is slow, not broken.
scalars = st.one_of(st.integers(-5, 60), st.floats(-10, 1e4), st.sampled_from(
    [math.nan, math.inf, -math.inf]), st.booleans(), st.text(max_size=12),
    st.sampled_from(["poisson", "gamma", "burst", "trace", "single", "tool_chain",
                     "reasoning", "fixed", "lognormal", "quantiles", "chatbot"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)), max_leaves=12)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, int | float | str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


def _mutate(doc: Any, path: list[int], new: Any, delete: bool) -> Any:
    """Replace (or delete) the node that `path` picks, walking dicts and lists."""
    if not path or not isinstance(doc, dict | list) or not doc:
        return new
    keys = list(doc) if isinstance(doc, dict) else list(range(len(doc)))
    key = keys[path[0] % len(keys)]
    if delete and len(path) == 1:
        doc.pop(key)
        return doc
    doc[key] = _mutate(doc[key], path[1:], new, delete)
    return doc


@st.composite
def workload_files(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:                      # arbitrary bytes now and then
        return draw(st.binary(max_size=200))
    base = tomllib.loads((workloads_dir() / draw(st.sampled_from(
        ["coding.toml", "tool_calling.toml", "reasoning.toml"]))).read_text())
    for _ in range(draw(st.integers(1, 3))):
        base = _mutate(base, draw(st.lists(st.integers(0, 9), min_size=1, max_size=5)),
                       draw(values), draw(st.booleans()))
    if not isinstance(base, dict):
        base = {"name": base}
    text = "\n".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in base.items())
    return text.encode("utf-8", "surrogatepass")


stamps = st.one_of(st.floats(-1e6, 1e9).map(str), st.sampled_from(
    ["nan", "inf", "", "x", "2023-11-16 18:17:03.9799600", "2023-11-16 18:17:04",
     "2023-13-40 25:61:61", "1e400"]))
tokens = st.one_of(st.integers(-3, 5000).map(str), st.sampled_from(["", "1.5", "x", "1e3"]))


@st.composite
def trace_files(draw: st.DrawFn) -> bytes:
    header = draw(st.sampled_from(["TIMESTAMP,ContextTokens,GeneratedTokens",
                                   "TIMESTAMP,ContextTokens", "ts,a,b",
                                   "TIMESTAMP,ContextTokens,GeneratedTokens,extra"]))
    rows = draw(st.lists(st.tuples(stamps, tokens, tokens), max_size=8))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join([header, *(",".join(r) for r in rows)]) + newline
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode()


NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1e-9", "0.5", "1", "2", "x", "", "1e309"]
OPTIONS: dict[str, list[str]] = {
    "--rates": ["nan", "inf", "-1", "0", "1", "2,4", "1,x", "", "0.01", ",", "1,1"],
    "--requests": ["-1", "0", "1", "3", "x", ""], "--seed": ["-1", "0", "7", "99999999999"],
    "--threshold": NUMBERS, "--tolerance": NUMBERS, "--min-rate": NUMBERS,
    "--slo-scale": NUMBERS, "--spec-alpha": NUMBERS, "--failure-budget": NUMBERS,
    "--request-timeout": NUMBERS, "--min-probe-s": ["-1", "0", "nan", "inf", "0.5", "x"],
    "--routing": ["round_robin", "least_loaded", "nosuch", ""],
    "--output-lengths": ["known", "unknown", "x"], "--max-context": ["-1", "0", "1", "2", "50"],
    "--spec-tokens": ["-1", "0", "2"], "--gpus": ["0", "1", "2", "3", "x"],
    "--tp": ["0", "1", "2", "3"], "--backends": ["vllm", "slos,sarathi", "", "x", "vllm,vllm"],
    "--hardware": ["a100", "h200", "tpu", ""], "--model": ["opt-13b", "llama-3-8b", "x", ""],
    "--profile": ["auto", "roofline", "fitted", "nope.json", ""],
    "--scenario": ["coding", "all", "", "x", "coding,coding", "[red]x"],
    "--trace": ["", "nope.csv", "."], "--engine": ["sim", "x", ""],
}
option_values = st.lists(st.sampled_from(sorted(OPTIONS)).flatmap(
    lambda o: st.tuples(st.just(o), st.sampled_from(OPTIONS[o]))), min_size=1, max_size=3)


@contextmanager
def _workdir() -> Iterator[tuple[Path, Path]]:
    """An empty working folder (what the run may touch: only its --out) and an inputs
    folder beside it."""
    with tempfile.TemporaryDirectory() as root:
        work, inputs = Path(root, "work"), Path(root, "inputs")
        work.mkdir()
        inputs.mkdir()
        cwd = os.getcwd()
        os.chdir(work)
        try:
            yield work, inputs
        finally:
            os.chdir(cwd)


def _check(ran: Ran, work: Path) -> None:
    assert ran.code in (0, 2), ran.text
    if ran.code == 2:
        ran.one_line_error()
    assert {p.name for p in work.iterdir()} <= {"out"}, list(work.iterdir())


@BOUNDED
@given(workload_files())
def test_generated_workload_files_never_crash(data: bytes) -> None:
    with _workdir() as (work, inputs):
        path = inputs / "w.toml"
        path.write_bytes(data)
        _check(invoke("run", "-s", path, *SMALL_RUN, "--out", work / "out"), work)


@BOUNDED
@given(trace_files())
def test_generated_trace_files_never_crash(data: bytes) -> None:
    with _workdir() as (work, inputs):
        path = inputs / "t.csv"
        path.write_bytes(data)
        _check(invoke("run", "-s", "coding", "--trace", path, *SMALL_RUN, "--out",
                      work / "out"), work)


@BOUNDED
@given(option_values)
def test_generated_option_values_never_crash(pairs: list[tuple[str, str]]) -> None:
    with _workdir() as (work, _inputs):
        args = [a for pair in pairs for a in pair]
        _check(invoke("run", "-s", "coding", *SMALL_RUN, *args, "--out", work / "out"), work)
