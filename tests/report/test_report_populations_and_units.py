"""The report shows latency of all and of admitted calls, rates with their unit, and
capacities at the search's edge as bounds (issue 19)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from plotly.offline import get_plotlyjs

from slobench.report.figures import attainment_figure, capacity_figure
from slobench.report.gains import operating_points
from slobench.report.html import render_report
from slobench.report.latency_figures import cdf_figure
from slobench.report.run_dir import load_run
from slobench.report.tables import capacity_html, ops_html


def _edit_summary(folder: Path, **columns: object) -> Path:
    summary = pd.read_parquet(folder / "summary.parquet")
    for column, value in columns.items():
        summary[column] = value
    summary.to_parquet(folder / "summary.parquet")
    return folder


def _never_failed(folder: Path, scenario: str, backend: str) -> Path:
    summary = pd.read_parquet(folder / "summary.parquet")
    summary["capacity_bound"] = summary["capacity_bound"].astype(object)
    pair = (summary["scenario"] == scenario) & (summary["backend"] == backend)
    cap = pair & (summary["kind"] == "capacity")
    top = summary.loc[pair & (summary["kind"] == "point"), "rate"].max()
    gpus = summary.loc[cap, "gpus"]
    summary.loc[cap, "capacity_bound"] = "at_least"
    summary.loc[cap, ["capacity_rps", "capacity_rps_per_gpu"]] = [top, top / gpus.iloc[0]]
    summary.loc[cap, "capacity_bound_sessions_per_s_per_gpu"] = top / gpus
    summary.to_parquet(folder / "summary.parquet")
    return folder


def test_operating_points_table_sets_all_call_and_admitted_latency_side_by_side(make_run):
    folder = _edit_summary(make_run(scenarios=("summarization",)), ttft_p99_s=179.25,
                           admitted_ttft_p99_s=2.55, share_best_effort=0.081)
    run = load_run(folder)
    table = ops_html(operating_points(run.summary, run.threshold))
    assert "TTFT (s), all calls" in table and "TTFT (s), admitted calls (ok)" in table
    assert "TPOT (ms), all calls" in table and "TPOT (ms), admitted calls (ok)" in table
    assert "<td>179</td>" in table and "<td>2.55</td>" in table
    assert "best-effort" in table and "<td>8.1%</td>" in table
    assert "rate (sessions/s)" in table


def test_cdf_draws_admitted_calls_solid_and_all_calls_dashed(make_run):
    run = load_run(make_run(scenarios=("chatbot",), backends=("slos",)))
    requests = run.requests.copy()
    late = requests.index[::10]               # a tenth of the calls: best-effort, 50x late
    requests.loc[late, "status"] = "best_effort"
    requests.loc[late, "ttft_s"] = requests.loc[late, "ttft_slo_s"] * 50
    fig = cdf_figure(requests, operating_points(run.summary, run.threshold))
    ttft = {t.name: t for t in fig.data if t.xaxis == "x" and t.name != "SLO"}
    admitted, every = ttft["slos, admitted calls"], ttft["slos, all calls"]
    assert admitted.line.dash == "solid" and every.line.dash == "dash"
    assert max(admitted.x) < 50 <= max(every.x)
    assert admitted.y[-1] == 1.0               # its denominator is the admitted calls
    assert every.y[-1] < 1.0                   # rejected calls keep the all-call curve short


def test_capacity_at_the_search_edge_shows_as_a_bound_with_a_bounded_gain(make_run):
    run = load_run(_never_failed(make_run(), "coding", "slos"))
    table = capacity_html(run.summary)
    assert "≥ 4.8" in table                    # 9.6 sessions/s on 2 GPUs, never failed
    assert "≥ ×3.20" in table                  # 4.8 over vllm's measured 1.5
    assert "(includes bounds)" in table and "never failed" in table


def test_capacity_below_the_lowest_rate_shows_as_less_than_it(make_run):
    folder = make_run(capacity={("chatbot", "slos"): 0.0001})
    summary = pd.read_parquet(folder / "summary.parquet")
    chat_slos = (summary["scenario"] == "chatbot") & (summary["backend"] == "slos")
    summary.loc[chat_slos & (summary["kind"] == "capacity"),
                ["capacity_rps", "capacity_rps_per_gpu"]] = 0.0
    summary.loc[chat_slos & (summary["kind"] == "point"), "rate"] = [0.5, 1, 2, 4, 8, 16]
    summary.to_parquet(folder / "summary.parquet")   # no bound column: read as older files
    table = capacity_html(load_run(folder).summary)
    assert "&lt; 0.25" in table                # lowest rate probed 0.5 on 2 GPUs
    assert "&lt; ×0.25" in table               # 0.25 over vllm's 1.0 per GPU


def test_multi_call_capacity_shows_calls_per_second_beside_sessions(make_run):
    folder = _edit_summary(make_run(scenarios=("tool_calling",)), calls_per_session=3.0)
    summary = pd.read_parquet(folder / "summary.parquet")
    summary["capacity_bound_calls_per_s_per_gpu"] = summary[
        "capacity_bound_sessions_per_s_per_gpu"].fillna(summary["capacity_rps_per_gpu"]) * 3
    summary.to_parquet(folder / "summary.parquet")
    table = capacity_html(load_run(folder).summary)
    assert "vllm (sessions/s per GPU)" in table and "vllm (calls/s per GPU)" in table
    assert "<td>1</td><td>3</td>" in table     # vllm: 1 session/s per GPU = 3 calls/s


def test_single_call_capacity_table_has_no_calls_column(make_run):
    table = capacity_html(load_run(make_run()).summary)
    assert "sessions/s per GPU" in table and "calls/s" not in table


def test_figures_label_rates_and_capacities_with_what_they_count(make_run):
    run = load_run(make_run())
    attainment = attainment_figure(run.summary, run.threshold)
    assert attainment.layout.xaxis.title.text == "offered rate (sessions/s)"
    assert capacity_figure(run.summary).layout.yaxis.title.text == "sessions/s per GPU"
    page = render_report(run).replace(get_plotlyjs(), "")
    assert "req/s" not in page


def test_hatched_bar_marks_a_capacity_the_search_never_failed_at(make_run):
    run = load_run(_never_failed(make_run(), "coding", "slos"))
    fig = capacity_figure(run.summary)
    slos = next(t for t in fig.data if t.name == "slos" and t.xaxis == "x")
    shapes = dict(zip(slos.x, slos.marker.pattern.shape, strict=True))
    assert shapes == {"chatbot": "", "coding": "/"}
    assert list(np.asarray(slos.customdata)) == ["2", "≥ 4.8"]
