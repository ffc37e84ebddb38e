import io

import pandas as pd
import pytest
from rich.console import Console

from slobench.core.errors import UserInputError
from slobench.report.gate import gate, render_gate
from slobench.report.run_dir import load_run


def _printed(result) -> str:
    buffer = io.StringIO()
    render_gate(result, Console(file=buffer, width=200, color_system=None))
    return buffer.getvalue()


def test_gate_passes_against_itself(make_run):
    run = load_run(make_run())
    result = gate(run, run)
    assert result.passed
    metrics = {r.metric for r in result.rows}
    assert {"capacity_rps_per_gpu", "attainment_at_capacity"} <= metrics
    assert "gate passed" in _printed(result)


def test_gate_fails_and_lists_the_pair_whose_capacity_dropped(make_run):
    base = load_run(make_run("base", capacity={("coding", "slos"): 10.0}))
    new = load_run(make_run("new", capacity={("coding", "slos"): 6.0}))
    result = gate(new, base)
    assert not result.passed
    [failure] = result.failures
    assert (failure.scenario, failure.backend, failure.metric) == (
        "coding", "slos", "capacity_rps_per_gpu")
    assert failure.base == pytest.approx(5.0) and failure.new == pytest.approx(3.0)
    text = _printed(result)
    assert "REGRESSION" in text and "gate failed" in text


def test_gate_allows_a_drop_within_the_tolerance(make_run):
    base = load_run(make_run("base", capacity={("coding", "slos"): 10.0}))
    new = load_run(make_run("new", capacity={("coding", "slos"): 9.7}))
    assert gate(new, base, max_capacity_drop=0.05).passed


def test_gate_fails_when_a_pair_is_missing_from_the_new_run(make_run):
    base = load_run(make_run("base", backends=("vllm", "slos")))
    new = load_run(make_run("new", backends=("vllm",)))
    result = gate(new, base)
    assert not result.passed
    assert {(r.scenario, r.backend, r.metric) for r in result.failures} == {
        ("chatbot", "slos", "present"), ("coding", "slos", "present")}


def test_gate_fails_when_attainment_at_capacity_is_below_the_floor(make_run):
    base = load_run(make_run("base"))
    folder = make_run("new")
    summary = pd.read_parquet(folder / "summary.parquet")
    summary["attainment"] = summary["attainment"].where(summary["kind"] != "point", 0.85)
    summary.to_parquet(folder / "summary.parquet")
    result = gate(load_run(folder), base, min_attainment=0.9)
    assert not result.passed
    assert {r.metric for r in result.failures} == {"attainment_at_capacity"}


def test_fixed_rate_runs_are_checked_per_common_rate(make_run):
    base = load_run(make_run("base", fixed_rate=True, backends=("vllm",),
                             scenarios=("chatbot",)))
    result = gate(base, base, min_attainment=0.9)
    # Six probed rates; the two above capacity fail the attainment floor.
    assert [r.metric for r in result.rows] == ["finished"] + ["attainment"] * 6
    assert sum(not r.ok for r in result.rows) == 2
    assert gate(base, base, min_attainment=0.0).passed


def test_optional_p99_ttft_limit_catches_a_latency_regression(make_run):
    base = load_run(make_run("base"))
    folder = make_run("new")
    summary = pd.read_parquet(folder / "summary.parquet")
    summary["ttft_p99_s"] *= 1.5
    summary.to_parquet(folder / "summary.parquet")
    new = load_run(folder)
    assert gate(new, base).passed  # not checked unless asked
    result = gate(new, base, max_p99_ttft_increase=0.2)
    assert not result.passed
    assert {r.metric for r in result.failures} == {"ttft_p99_s"}


def test_empty_baseline_is_a_user_error(make_run):
    folder = make_run()
    empty = pd.read_parquet(folder / "summary.parquet").iloc[0:0]
    empty.to_parquet(folder / "summary.parquet")
    with pytest.raises(UserInputError, match="no rows to gate against"):
        gate(load_run(folder), load_run(folder))
