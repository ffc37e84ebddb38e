"""Workload scenario files: schema, loading and validation.

One TOML file per scenario in the top-level `workloads/` folder. Schema:

    name = "coding"                      # required, the scenario's name
    description = "..."                  # required, one line for people
    source = "..."                       # required, the dataset/trace it stands for

    [arrival]                            # required
    kind = "burst"                       # poisson | gamma | burst | trace
    mean_group_size = 3.0                # burst: mean_group_size (>= 1), spread_s (opt.)
                                         # gamma: burstiness (> 0, the Gamma shape)
                                         # trace: path, window_start_s (opt.), window_s (opt.)

    [[classes]]                          # required, one or more
    name = "coding"                      # required, unique in the scenario
    kind = "single"                      # single | tool_chain | reasoning
    weight = 1.0                         # optional (1.0): share of sessions, by weight
    lengths = "distribution"             # optional: "distribution" or "trace" (kind single
                                         # with arrival kind trace only: lengths from the
                                         # trace rows; then no prompt/output are given)
    prompt = { dist = "quantiles", points = [[0.0, 3], [0.5, 1469], [1.0, 7437]] }
      [[classes.stages]]
      name = "completion"
      ttft_slowdown = 5.0                # TTFT SLO: multiple of zero-load prefill time
      tpot_ms = 50.0                     # TPOT SLO in ms
      output = { dist = "lognormal", median = 13, sigma = 1.0 }

Class kinds and their stages:

- `single`: one stage; one call per session.
- `tool_chain`: class-level `calls` (calls per session, at least 2), `tool_result`
  (tokens a tool result adds) and `tool_delay_s` (seconds a tool takes); stages
  `intermediate_call` and `final_answer`. Call k's prompt is call k-1's prompt +
  its output + a tool result; every call but the last waits a tool delay after it.
- `reasoning`: stages `thinking` then `response`, one call per session whose
  output has a thinking phase and a response phase, each with its own TPOT; the
  call's TTFT SLO is the thinking stage's, so `response` takes no `ttft_slowdown`.

A class may instead be `{ from = "chatbot", weight = 0.4 }`: the class(es) of
another scenario file (a bare name is looked up next to this file, anything else
is a path relative to it), sharing `weight` among them; their SLOs come along,
their arrival process does not (the mixing scenario's applies).

Distributions (`{ dist = ... }`) are described in `distributions.py`; the optional
`[paper]` table (the paper's model and GPUs, for `run --paper`) in `paper.py`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import slobench
from slobench.core.errors import input_error
from slobench.workloads.arrivals import ArrivalProcess, parse_arrival
from slobench.workloads.distributions import Distribution, parse_distribution
from slobench.workloads.paper import PaperSetting, parse_paper
from slobench.workloads.tomlcheck import (
    as_number,
    as_str,
    as_table,
    check_keys,
    describe,
)

SCENARIO_NAMES = ("chatbot", "coding", "summarization", "tool_calling", "reasoning", "mixed")
CLASS_KINDS = ("single", "tool_chain", "reasoning")
# Stage names each multi-stage class kind needs, in order.
KIND_STAGES = {"tool_chain": ("intermediate_call", "final_answer"),
               "reasoning": ("thinking", "response")}


@dataclass(frozen=True)
class Stage:
    name: str
    ttft_slowdown: float | None       # None only for reasoning's response (see above)
    tpot_ms: float
    output: Distribution | None       # None when lengths come from a trace


@dataclass(frozen=True)
class RequestClass:
    name: str
    kind: str
    weight: float
    stages: tuple[Stage, ...]
    prompt: Distribution | None       # None when lengths come from a trace
    lengths: str = "distribution"
    calls: Distribution | None = None          # tool_chain only
    tool_result: Distribution | None = None    # tool_chain only
    tool_delay_s: Distribution | None = None   # tool_chain only
    defined_in: str = ""                       # file the class was read from

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    source: str
    arrival: ArrivalProcess
    classes: tuple[RequestClass, ...]
    path: str
    paper: PaperSetting | None = None  # the paper's deployment (`[paper]`, --paper)


def workloads_dir() -> Path:
    """The folder bare scenario names resolve in (env SLOBENCH_WORKLOADS_DIR overrides)."""
    override = os.environ.get("SLOBENCH_WORKLOADS_DIR")
    if override:
        return Path(override).expanduser()
    return Path(slobench.__file__).resolve().parents[1] / "workloads"


def _resolve(name_or_path: str, base: Path) -> Path:
    if "/" in name_or_path or name_or_path.endswith(".toml"):
        path = Path(name_or_path).expanduser()
        return path if path.is_absolute() else base / path
    return base / f"{name_or_path}.toml"


def load_scenario(name_or_path: str) -> Scenario:
    """Load and validate a scenario by bare name (in `workloads_dir()`) or by path."""
    if "/" in name_or_path or name_or_path.endswith(".toml"):
        path = Path(name_or_path).expanduser()
    else:
        path = workloads_dir() / f"{name_or_path}.toml"
        if not path.is_file():
            known = ", ".join(p.stem for p in sorted(workloads_dir().glob("*.toml")))
            raise input_error(name_or_path, None,
                              f"no such scenario in {workloads_dir()} (known: {known})")
    return _load(path, ())


def list_scenarios() -> list[Scenario]:
    """The six shipped scenarios, in the paper's order."""
    return [load_scenario(name) for name in SCENARIO_NAMES]


def _read_toml(path: Path) -> dict[str, Any]:
    src = str(path)
    if not path.is_file():
        raise input_error(src, None, "workload file not found")
    try:
        data = path.read_bytes()
        # utf-8-sig: an editor's BOM is not part of the TOML.
        return tomllib.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise input_error(src, f"line {line}", f"not UTF-8 text (byte 0x{data[exc.start]:02x} "
                          f"at offset {exc.start}); save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise input_error(src, None, f"TOML syntax error: {exc}") from None
    except OSError as exc:
        raise input_error(src, None, f"cannot read: {exc.strerror}") from None


def _load(path: Path, including: tuple[Path, ...]) -> Scenario:
    src = str(path)
    doc = _read_toml(path)
    check_keys(doc, src, "", {"name", "description", "source", "arrival", "classes"}, {"paper"})
    name = as_str(doc["name"], src, "name")
    description = as_str(doc["description"], src, "description")
    source = as_str(doc["source"], src, "source")
    arrival = parse_arrival(as_table(doc["arrival"], src, "arrival"), src)

    raw_classes = doc["classes"]
    if not isinstance(raw_classes, list) or not raw_classes:
        raise input_error(src, "classes", f"expected one or more [[classes]] tables, got "
                          f"{describe(raw_classes)}")
    classes: list[RequestClass] = []
    for i, raw in enumerate(raw_classes):
        where = f"classes[{i}]"
        table = as_table(raw, src, where)
        if "from" in table:
            classes.extend(_included(table, path, where, (*including, path.resolve())))
        else:
            classes.append(_parse_class(table, src, where))

    seen: set[str] = set()
    for i, cls in enumerate(classes):
        if cls.name in seen:
            raise input_error(src, f"classes[{i}].name", f"duplicate class name {cls.name!r}")
        seen.add(cls.name)
        if cls.lengths == "trace" and arrival.kind != "trace":
            raise input_error(src, f"classes[{i}].lengths",
                              f'"trace" lengths need arrival kind "trace" (class {cls.name!r} '
                              f"from {cls.defined_in})")
    return Scenario(name, description, source, arrival, tuple(classes), src,
                    parse_paper(doc.get("paper"), src))


def _included(
    table: dict[str, Any], here: Path, where: str, including: tuple[Path, ...]
) -> list[RequestClass]:
    """The classes of another scenario file, their weights rescaled to sum to `weight`."""
    src = str(here)
    check_keys(table, src, where, {"from"}, {"weight"})
    target = _resolve(as_str(table["from"], src, f"{where}.from"), here.parent)
    weight = as_number(table.get("weight", 1.0), src, f"{where}.weight", positive=True)
    if target.resolve() in including:
        raise input_error(src, f"{where}.from", f"{target} includes itself")
    if not target.is_file():
        raise input_error(src, f"{where}.from", f"no such workload file {target}")
    other = _load(target, including)
    total = sum(c.weight for c in other.classes)
    return [replace(c, weight=weight * c.weight / total) for c in other.classes]


def _parse_stage(table: dict[str, Any], src: str, where: str, *, needs_ttft: bool,
                 needs_output: bool) -> Stage:
    required = {"name", "tpot_ms"} | ({"ttft_slowdown"} if needs_ttft else set())
    if needs_output:
        required |= {"output"}
    check_keys(table, src, where, required, set())
    return Stage(
        name=as_str(table["name"], src, f"{where}.name"),
        ttft_slowdown=(as_number(table["ttft_slowdown"], src, f"{where}.ttft_slowdown",
                                 positive=True) if needs_ttft else None),
        tpot_ms=as_number(table["tpot_ms"], src, f"{where}.tpot_ms", positive=True),
        output=(parse_distribution(table["output"], src, f"{where}.output")
                if needs_output else None),
    )


def _parse_class(table: dict[str, Any], src: str, where: str) -> RequestClass:
    kind = as_str(table.get("kind", "single"), src, f"{where}.kind", CLASS_KINDS)
    lengths = as_str(table.get("lengths", "distribution"), src, f"{where}.lengths",
                     ("distribution", "trace"))
    if lengths == "trace" and kind != "single":
        raise input_error(src, f"{where}.lengths", f'"trace" lengths need class kind "single", '
                          f"not {kind!r}")
    from_dists = lengths == "distribution"
    required = {"name", "kind", "stages"} | ({"prompt"} if from_dists else set())
    if kind == "tool_chain":
        required |= {"calls", "tool_result", "tool_delay_s"}
    check_keys(table, src, where, required, {"weight", "lengths"})

    raw_stages = table["stages"]
    if not isinstance(raw_stages, list) or not raw_stages:
        raise input_error(src, f"{where}.stages", f"expected one or more [[classes.stages]] "
                          f"tables, got {describe(raw_stages)}")
    expected = KIND_STAGES.get(kind)
    if expected is None and len(raw_stages) != 1:
        raise input_error(src, f"{where}.stages", f"a single class has one stage, got "
                          f"{len(raw_stages)}")
    stages = []
    for j, raw in enumerate(raw_stages):
        swhere = f"{where}.stages[{j}]"
        if expected is not None and len(raw_stages) != len(expected):
            raise input_error(src, f"{where}.stages", f"a {kind} class has stages "
                              f"{' then '.join(expected)}, got {len(raw_stages)} stage(s)")
        needs_ttft = not (kind == "reasoning" and j == 1)
        stage = _parse_stage(as_table(raw, src, swhere), src, swhere, needs_ttft=needs_ttft,
                             needs_output=from_dists)
        if expected is not None and stage.name != expected[j]:
            raise input_error(src, f"{swhere}.name", f"expected {expected[j]!r} (a {kind} "
                              f"class has stages {' then '.join(expected)}), got {stage.name!r}")
        stages.append(stage)

    def dist(key: str) -> Distribution | None:
        return parse_distribution(table[key], src, f"{where}.{key}") if key in table else None

    return RequestClass(
        name=as_str(table["name"], src, f"{where}.name"),
        kind=kind,
        weight=as_number(table.get("weight", 1.0), src, f"{where}.weight", positive=True),
        stages=tuple(stages),
        prompt=dist("prompt"),
        lengths=lengths,
        calls=dist("calls"),
        tool_result=dist("tool_result"),
        tool_delay_s=dist("tool_delay_s"),
        defined_in=src,
    )


def scenario_summary(s: Scenario) -> dict[str, Any]:
    """A plain dict for listings and run metadata."""
    return {
        "name": s.name, "description": s.description, "source": s.source, "path": s.path,
        "arrival": {"kind": s.arrival.kind, **s.arrival.params()},
        "classes": [{"name": c.name, "kind": c.kind, "weight": c.weight} for c in s.classes],
        "stages": [
            {"name": st.name,
             # reasoning's response shares its call's TTFT SLO, the thinking stage's
             "ttft_slowdown": st.ttft_slowdown if st.ttft_slowdown is not None
             else c.stages[0].ttft_slowdown,
             "tpot_ms": st.tpot_ms,
             "class": c.name}
            for c in s.classes for st in c.stages
        ],
    }
