"""Several runs side by side, with relative deltas against the first (the reference).

One row per (run, scenario, backend). Latency and overhead come from the
pair's operating point (gains.operating_points): the probe at capacity, or
for fixed-rate runs the highest passing rate, so each run is read where it
actually operates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from slobench.core.errors import input_error
from slobench.metrics.gains import capacity_gain
from slobench.report.figures import esc
from slobench.report.gains import (
    BASELINE,
    capacity_rows,
    gain_relation,
    operating_points,
    scenario_sort_key,
    shown_capacity,
)
from slobench.report.html import figure_div, page, write_atomic
from slobench.report.run_dir import RunData, load_run
from slobench.report.tables import html_table

METRICS: list[tuple[str, str]] = [
    ("capacity_rps_per_gpu", "capacity (sessions/s per GPU)"),
    ("gain_vs_vllm", "gain vs vllm"),
    ("ttft_p99_s", "TTFT p99 all calls (s)"),
    ("admitted_ttft_p99_s", "TTFT p99 admitted (s)"),
    ("tpot_p99_s", "TPOT p99 all calls (s)"),
    ("admitted_tpot_p99_s", "TPOT p99 admitted (s)"),
    ("sched_overhead_p99_ms", "sched p99 (ms)"),
]
WIDE_CONSOLE = 140          # narrower consoles get one table per (scenario, backend)
# For these a rise is good; for latencies and overhead a rise is a regression.
HIGHER_IS_BETTER = {"capacity_rps_per_gpu", "gain_vs_vllm"}


def compare_runs(paths: Sequence[str | Path]) -> pd.DataFrame:
    if not paths:
        raise input_error("compare", None, "give at least one results folder")
    return compare_loaded([load_run(p) for p in paths])


def compare_loaded(runs: Sequence[RunData]) -> pd.DataFrame:
    frames = [_run_rows(run, label, i)
              for i, (run, label) in enumerate(zip(runs, run_labels(runs), strict=True))]
    frame = pd.concat(frames, ignore_index=True)
    first = frame[frame["run_index"] == 0].set_index(["scenario", "backend"])
    for metric, _ in METRICS:
        ref = frame.set_index(["scenario", "backend"]).index.map(first[metric].to_dict())
        ref = pd.Series(ref, index=frame.index, dtype=float)
        # Relative change; NaN where the first run lacks the pair or its value is 0.
        frame[f"{metric}_delta"] = frame[metric] / ref.where(ref != 0) - 1
    # Scenarios in the SPEC's order, vllm (the baseline) first within each.
    frame = frame.assign(_s=frame["scenario"].map(scenario_sort_key),
                         _b=frame["backend"].map(lambda b: (b != BASELINE, b)))
    frame = frame.sort_values(["_s", "_b", "run_index"], kind="stable")
    return frame.drop(columns=["_s", "_b"]).reset_index(drop=True)


def run_labels(runs: Sequence[RunData]) -> list[str]:
    """run ids, made unique (two folders may hold the same run id)."""
    labels: list[str] = []
    for run in runs:
        label = run.run_id
        labels.append(label if label not in labels else f"{label}#{len(labels) + 1}")
    return labels


def _run_rows(run: RunData, label: str, index: int) -> pd.DataFrame:
    ops = operating_points(run.summary, run.threshold)
    keep = ["scenario", "backend", "rate",
            *(m for m, _ in METRICS if m not in ("capacity_rps_per_gpu", "gain_vs_vllm"))]
    rows = ops.reindex(columns=keep).rename(columns={"rate": "op_rate"})  # old runs lack some
    caps = capacity_rows(run.summary)[["scenario", "backend", "capacity_rps_per_gpu",
                                       "capacity_bound", "capacity_bound_sessions_per_s_per_gpu"]]
    rows = rows.merge(caps, on=["scenario", "backend"], how="outer")
    base_rows = rows[rows["backend"] == BASELINE].set_index("scenario")
    base = base_rows["capacity_rps_per_gpu"]
    base = rows["scenario"].map(base.to_dict()).astype(float)
    rows["gain_vs_vllm"] = capacity_gain(rows["capacity_rps_per_gpu"].astype(float), base)
    base_bound = rows["scenario"].map(base_rows["capacity_bound"].to_dict())
    rows["gain_relation"] = [gain_relation(str(b), str(d)) if isinstance(d, str) else ""
                             for b, d in zip(rows["capacity_bound"], base_bound, strict=True)]
    rows.insert(0, "run", label)
    rows.insert(1, "run_index", index)
    return rows


def render_compare(frame: pd.DataFrame, console: Console) -> None:
    if console.width < WIDE_CONSOLE:
        _render_narrow(frame, console)
        return
    table = Table(title="slobench compare (deltas vs the first run)", show_lines=False)
    for name in ("scenario", "backend", "run"):
        table.add_column(name)
    for _, title in METRICS:
        table.add_column(title, justify="right")
    previous = None
    for _, row in frame.iterrows():
        pair = (row["scenario"], row["backend"])
        if previous is not None and pair != previous:
            table.add_section()
        previous = pair
        cells = [_cell(row, metric) for metric, _ in METRICS]
        # rich markup would swallow "[...]" in user names; escape them.
        table.add_row(*(escape(str(row[c])) for c in ("scenario", "backend", "run")), *cells)
    console.print(table)


def _render_narrow(frame: pd.DataFrame, console: Console) -> None:
    """One table per (scenario, backend), metrics down and runs across: ten columns do
    not fit 80 (a CI log) without cutting names and numbers."""
    console.print("slobench compare (deltas vs the first run)")
    for (scenario, backend), rows in frame.groupby(["scenario", "backend"], sort=False):
        table = Table(title=escape(f"{scenario} / {backend}"), title_justify="left")
        table.add_column("metric", overflow="fold")
        for run in rows["run"]:
            table.add_column(escape(str(run)), justify="right", overflow="fold")
        for metric, title in METRICS:
            table.add_row(title, *(_cell(row, metric) for _, row in rows.iterrows()))
        console.print(table)


def _value_text(row: pd.Series, metric: str) -> tuple[str, bool]:
    """The value as shown, and whether a delta means anything: not for a capacity at
    the search's edge (`≥ X` / `< X`) or a gain drawn from one (a bound too)."""
    value = row[metric]
    if value is None or pd.isna(value):
        return "–", False
    if metric == "capacity_rps_per_gpu" and row.get("capacity_bound") != "measured":
        return shown_capacity(row), False
    if metric == "gain_vs_vllm" and row.get("gain_relation"):
        return f"{row['gain_relation']} {value:.3g}", False
    return f"{value:.3g}", True


def _cell(row: pd.Series, metric: str) -> str:
    text, comparable = _value_text(row, metric)
    delta = row[f"{metric}_delta"]
    if row["run_index"] == 0 or pd.isna(delta) or not comparable:
        return escape(text)
    better = (delta > 0) == (metric in HIGHER_IS_BETTER)
    colour = "green" if better or abs(delta) < 1e-12 else "red"
    return f"{text} [{colour}]({delta:+.1%})[/{colour}]"


def write_compare_html(frame: pd.DataFrame, runs: Sequence[RunData], out: str | Path) -> Path:
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    runs_list = "".join(
        f"<li>{esc(label)}: {esc(str(run.path))}</li>"
        for label, run in zip(run_labels(runs), runs, strict=True))
    body = [f"<h1>slobench compare</h1><p>Deltas are relative to the first run.</p>"
            f"<ol>{runs_list}</ol>", _frame_html(frame)]
    for metric, title in METRICS:
        if metric != "gain_vs_vllm" and frame[metric].notna().any():
            body.append(figure_div(_metric_figure(frame, metric, title)))
    return write_atomic(out_path, page("slobench compare", "\n".join(body)))


def _frame_html(frame: pd.DataFrame) -> str:
    heads = ["scenario", "backend", "run"] + [t for _, t in METRICS]
    rows = []
    for _, row in frame.iterrows():
        cells = [esc(str(row[c])) for c in ("scenario", "backend", "run")]
        for metric, _ in METRICS:
            text, comparable = _value_text(row, metric)
            delta = row[f"{metric}_delta"]
            if row["run_index"] != 0 and comparable and not pd.isna(delta) and math.isfinite(
                    delta):
                text += f" ({delta:+.1%})"
            cells.append(esc(text))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return html_table(heads, rows)


def _metric_figure(frame: pd.DataFrame, metric: str, title: str) -> go.Figure:
    """Grouped bars: x = scenario/backend, one bar per run."""
    fig = go.Figure()
    pairs = frame[["scenario", "backend"]].drop_duplicates()
    x_labels = [f"{esc(s)}/{esc(b)}" for s, b in pairs.itertuples(index=False)]
    for label in frame["run"].unique():
        mine = frame[frame["run"] == label].set_index(["scenario", "backend"])[metric]
        y = [mine.get((s, b)) for s, b in pairs.itertuples(index=False)]
        fig.add_trace(go.Bar(x=x_labels, y=y, name=esc(label)))
    fig.update_layout(title=title, barmode="group", template="plotly_white", height=420,
                      xaxis_tickangle=-30, margin=dict(l=60, r=20, t=60, b=120))
    return fig

