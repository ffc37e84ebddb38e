"""The gate's false greens of issue 13: it compares like with like (or refuses, exit 2),
fails an aborted run, and lists every check with both values."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from slobench.core.errors import UserInputError
from slobench.report.gate import gate, render_gate
from slobench.report.run_dir import load_run

CONFIG = {"engine": "sim", "model": "opt-13b", "hardware": "a100", "gpus": 2, "tp": 2,
          "requests": 200, "seed": 0, "threshold": 0.9, "rel_tol": 0.05, "routing": "round_robin"}


def _with_meta(folder: Path, **meta: object) -> Path:
    path = folder / "run.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | meta))
    return folder


def _printed(result, width: int = 80) -> str:
    buffer = io.StringIO()
    render_gate(result, Console(file=buffer, width=width, color_system=None))
    return buffer.getvalue()


def test_a_capacity_run_against_a_fixed_rate_baseline_is_refused(make_run) -> None:
    new = load_run(make_run("new"))
    base = load_run(make_run("base", fixed_rate=True))
    with pytest.raises(UserInputError, match=r"capacity search but the baseline .* fixed rates"):
        gate(new, base)


def test_a_change_of_run_kind_is_refused_not_called_a_regression(make_run) -> None:
    new = load_run(make_run("new", fixed_rate=True))
    base = load_run(make_run("base"))
    with pytest.raises(UserInputError, match=r"fixed rates but the baseline .* capacity search"):
        gate(new, base)


def test_runs_with_different_sessions_per_probe_are_refused(make_run) -> None:
    base = load_run(_with_meta(make_run("base"), config=CONFIG))
    new = load_run(_with_meta(make_run("new"), config=CONFIG | {"requests": 300}))
    with pytest.raises(UserInputError, match=r"config\.requests: 300 here, 200 in the baseline"):
        gate(new, base)


def test_a_different_scheduler_knob_is_what_a_gate_may_measure(make_run) -> None:
    base = load_run(_with_meta(make_run("base"), config=CONFIG))
    new = load_run(_with_meta(make_run("new"), config=CONFIG | {"routing": "least_loaded"}))
    assert gate(new, base).passed


@pytest.mark.parametrize("meta", [
    {"aborted": "server 0 exited with code 1"},
    {"failure_budget_spent": ["coding / vllm at 4/s: 100% of calls failed"]},
    {"started": "2026-01-01T00:00:00"},          # never finished: killed
])
def test_an_aborted_new_run_fails_the_gate(make_run, meta: dict) -> None:
    base = load_run(make_run("base"))
    new = load_run(_with_meta(make_run("new"), **meta))
    result = gate(new, base)
    assert not result.passed
    [failure] = result.failures
    assert failure.metric == "finished" and failure.shown == ("yes", "no")
    assert "REGRESSION" in _printed(result, width=200)


def test_an_aborted_baseline_fails_the_gate_too(make_run) -> None:
    base = load_run(_with_meta(make_run("base"), aborted="KeyboardInterrupt"))
    new = load_run(make_run("new"))
    result = gate(new, base)
    assert not result.passed
    assert [f.metric for f in result.failures] == ["finished"]
    assert "base aborted: KeyboardInterrupt" in result.failures[0].note


def test_every_check_is_listed_with_both_values_at_80_columns(make_run) -> None:
    base = load_run(make_run("base", capacity={("coding", "slos"): 10.0}))
    new = load_run(make_run("new", capacity={("coding", "slos"): 6.0}))
    result = gate(new, base)
    text = _printed(result)
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    checks = [line for line in text.splitlines() if line.startswith(("ok ", "REGRESSION "))]
    assert len(checks) == len(result.rows)           # one line per check, verdict first
    for line, row in zip(checks[1:], result.rows[1:], strict=True):
        assert f"base {row.base:.4g}, new {row.new:.4g}" in line
    assert any(line.startswith("REGRESSION coding/slos capacity/GPU") for line in checks)
