"""gate refuses to compare a capacity at the search's edge as if it were measured."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from rich.console import Console

from slobench.report.gate import gate, render_gate
from slobench.report.run_dir import load_run


def _printed(result) -> str:
    buffer = io.StringIO()
    render_gate(result, Console(file=buffer, width=250, color_system=None))
    return buffer.getvalue()


def _at_search_edge(folder: Path, scenario: str, backend: str, bound: str) -> Path:
    """Rewrite a pair as a search that never failed (at_least) or never passed (below)."""
    summary = pd.read_parquet(folder / "summary.parquet")
    summary["capacity_bound"] = summary["capacity_bound"].astype(object)
    pair = (summary["scenario"] == scenario) & (summary["backend"] == backend)
    points, cap = pair & (summary["kind"] == "point"), pair & (summary["kind"] == "capacity")
    summary.loc[points, "attainment"] = 1.0 if bound == "at_least" else 0.5
    rates = summary.loc[points, "rate"]
    total = rates.max() if bound == "at_least" else 0.0
    edge = rates.max() if bound == "at_least" else rates.min()
    gpus = summary.loc[cap, "gpus"]
    summary.loc[cap, "capacity_bound"] = bound
    summary.loc[cap, "capacity_rps"] = total
    summary.loc[cap, "capacity_rps_per_gpu"] = total / gpus
    summary.loc[cap, "capacity_bound_sessions_per_s_per_gpu"] = edge / gpus
    summary.to_parquet(folder / "summary.parquet")
    return folder


def test_gate_does_not_pass_a_new_capacity_the_search_never_failed_at(make_run):
    base = load_run(make_run("base"))
    new = load_run(_at_search_edge(make_run("new"), "coding", "slos", "at_least"))
    result = gate(new, base)
    assert not result.passed
    [edge] = result.unbounded
    assert (edge.scenario, edge.backend, edge.metric) == ("coding", "slos",
                                                          "capacity_rps_per_gpu")
    assert not edge.ok
    text = _printed(result)
    assert "UNBOUNDED" in text and "≥ 4.8 " in text and "never failed" in text
    assert "gate not passed" in text and "regressed" not in text


def test_gate_does_not_pass_a_baseline_capacity_the_search_never_passed_at(make_run):
    base = load_run(_at_search_edge(make_run("base"), "chatbot", "vllm", "below"))
    new = load_run(make_run("new"))
    result = gate(new, base)
    assert not result.passed
    assert [(r.scenario, r.backend) for r in result.unbounded] == [("chatbot", "vllm")]
    text = _printed(result)
    assert "< 0.25 " in text and "never passed" in text


def test_gate_against_itself_still_refuses_an_unbounded_capacity(make_run):
    folder = _at_search_edge(make_run(), "coding", "vllm", "at_least")
    result = gate(load_run(folder), load_run(folder))
    assert not result.passed and len(result.unbounded) == 1
    # everything else was compared and held
    assert all(r.ok for r in result.rows if not r.unbounded)


def test_gate_reads_hit_max_rate_of_older_files_as_an_unbounded_capacity(make_run):
    folder = make_run("old")
    summary = pd.read_parquet(folder / "summary.parquet").drop(
        columns=["capacity_bound", "capacity_bound_sessions_per_s_per_gpu"])
    summary["hit_max_rate"] = summary["kind"].eq("capacity") & summary["backend"].eq("slos") \
        & summary["scenario"].eq("chatbot")
    summary.to_parquet(folder / "summary.parquet")
    result = gate(load_run(folder), load_run(make_run("base")))
    assert [(r.scenario, r.backend) for r in result.unbounded] == [("chatbot", "slos")]
