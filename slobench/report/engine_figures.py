"""Engine-state figures for report.html: the timeline and the scheduling overhead."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from slobench.report.figures import MAX_POINTS, backend_colors, esc, finish, same_rate
from slobench.report.gains import ordered_backends, ordered_scenarios


def timeline_figure(timeline: pd.DataFrame, ops: pd.DataFrame) -> go.Figure | None:
    """Queue length, batch tokens and KV use over time at each operating point."""
    metrics = [(c, label, how) for c, label, how in (
        ("queue_len", "queue length", "sum"), ("batch_tokens", "batch tokens", "sum"),
        ("kv_used_frac", "KV cache used", "mean"),
    ) if c in timeline.columns]
    if timeline.empty or ops.empty or not metrics:
        return None
    scenarios = [s for s in ordered_scenarios(ops) if (timeline["scenario"] == s).any()]
    if not scenarios:
        return None
    colors = backend_colors(ordered_backends(ops))
    titles = [f"{esc(s)}: {label}" for s in scenarios for _, label, _ in metrics]
    fig = make_subplots(rows=len(scenarios), cols=len(metrics), subplot_titles=titles,
                        vertical_spacing=min(0.12, 0.35 / len(scenarios)),
                        horizontal_spacing=0.07)
    shown: set[str] = set()
    for r, scenario in enumerate(scenarios, start=1):
        for _, op in ops[ops["scenario"] == scenario].iterrows():
            backend = str(op["backend"])
            part = timeline[(timeline["scenario"] == scenario)
                            & (timeline["backend"] == backend)
                            & same_rate(timeline["rate"], float(op["rate"]))]
            if part.empty:
                continue
            binned = _bin_timeline(part, metrics)
            for c, (column, label, _) in enumerate(metrics, start=1):
                fig.add_trace(go.Scatter(
                    x=binned.index, y=binned[column], mode="lines", name=esc(backend),
                    legendgroup=esc(backend), showlegend=backend not in shown,
                    line=dict(color=colors[backend], width=1.2),
                    hovertemplate=f"{esc(backend)}<br>t %{{x:.1f}}s<br>{label} %{{y:.3g}}"
                                  "<extra></extra>",
                ), row=r, col=c)
                shown.add(backend)
    fig.update_xaxes(title_text="time (s)", title_standoff=4)
    if "kv_used_frac" in timeline.columns:
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%", col=len(metrics))
    return finish(fig, "Engine state over time at the capacity probe (all replicas)",
                   len(scenarios))


def _bin_timeline(part: pd.DataFrame, metrics: list[tuple[str, str, str]]) -> pd.DataFrame:
    """Bin time to <= MAX_POINTS steps; sum counts over replicas, average KV use.

    Replicas sample at their own instants, so adding raw rows would not line up:
    each replica is first averaged within a bin, then replicas are combined.
    """
    t = part["t_s"].astype(float)
    span = float(t.max() - t.min()) or 1.0
    width = span / MAX_POINTS
    bins = ((t - t.min()) / width).clip(upper=MAX_POINTS - 1).astype(int)
    replica = part["replica"] if "replica" in part.columns else 0
    columns = [c for c, _, _ in metrics]
    per_replica = part.assign(_bin=bins, _rep=replica).groupby(["_bin", "_rep"])[columns].mean()
    combined = per_replica.groupby(level="_bin").agg({c: how for c, _, how in metrics})
    combined.index = t.min() + (combined.index.to_numpy() + 0.5) * width
    return combined


def overhead_figure(ops: pd.DataFrame) -> go.Figure | None:
    """Scheduling overhead p50/p99 per backend per scenario (log scale: spans decades)."""
    if ops.empty or ops[["sched_overhead_p50_ms", "sched_overhead_p99_ms"]].isna().all().all():
        return None
    scenarios = ordered_scenarios(ops)
    backends = ordered_backends(ops)
    colors = backend_colors(backends)
    fig = make_subplots(rows=1, cols=2, subplot_titles=["p50", "p99"], horizontal_spacing=0.08)
    for c, column in enumerate(("sched_overhead_p50_ms", "sched_overhead_p99_ms"), start=1):
        for backend in backends:
            mine = ops[ops["backend"] == backend].set_index("scenario")[column]
            fig.add_trace(go.Bar(
                x=[esc(s) for s in scenarios], y=mine.reindex(scenarios), name=esc(backend),
                legendgroup=esc(backend), showlegend=c == 1, marker_color=colors[backend],
                hovertemplate=f"{esc(backend)}<br>%{{x}}: %{{y:.3g}} ms<extra></extra>",
            ), row=1, col=c)
    fig.update_yaxes(title_text="ms per scheduler call")
    values = ops[["sched_overhead_p50_ms", "sched_overhead_p99_ms"]].to_numpy(dtype=float)
    positive = values[np.isfinite(values) & (values > 0)]
    if len(positive) and positive.max() / positive.min() > 20:
        # Log scale for spans of decades, with an explicit range shared by p50 and p99:
        # autoranged log bars start at the smallest value and all look alike.
        low, high = math.log10(positive.min() / 3), math.log10(positive.max() * 2)
        fig.update_yaxes(type="log", range=[low, high], dtick=1)  # label powers of ten only
    else:
        fig.update_yaxes(rangemode="tozero")
        fig.update_yaxes(matches="y", row=1, col=2)
    fig.update_layout(barmode="group")
    return finish(fig, "Scheduling overhead at the capacity probe", 1)
