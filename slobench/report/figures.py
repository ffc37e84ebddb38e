"""Plotly figures for report.html (SPEC §8).

Every user string that reaches a figure goes through `esc`: plotly renders a
subset of HTML in titles, legends and ticks, so an unescaped scenario called
`<b>x</b>` would be drawn bold rather than shown as typed, and would sit raw in
the page's JSON.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from slobench.report.gains import (
    BASELINE,
    GEOMEAN_ROW,
    capacity_rate,
    ordered_backends,
    ordered_scenarios,
    point_rows,
)

MAX_POINTS = 500  # per trace: keeps the page light with 6 scenarios × several backends
ROW_HEIGHT = 280


def esc(text: object) -> str:
    return html.escape(str(text))


def backend_colors(backends: list[str]) -> dict[str, str]:
    palette = qualitative.D3
    return {b: palette[i % len(palette)] for i, b in enumerate(backends)}


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = max(1, min(max_cols, n))
    return math.ceil(n / cols), cols


def _cell(i: int, cols: int) -> tuple[int, int]:
    return i // cols + 1, i % cols + 1


def _thin(x: np.ndarray, y: np.ndarray, limit: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Evenly spaced subset, always keeping both ends (a CDF's tails matter)."""
    if len(x) <= limit:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, limit).round().astype(int))
    return x[keep], y[keep]


def _same_rate(values: pd.Series, rate: float) -> pd.Series:
    return pd.Series(np.isclose(values.astype(float), rate, rtol=1e-9, atol=0), index=values.index)


def _finish(fig: go.Figure, title: str, rows: int) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left"), height=ROW_HEIGHT * rows + 110,
        margin=dict(l=60, r=20, t=90, b=50), template="plotly_white",
        legend=dict(title_text="backend"),
    )
    return fig


def attainment_figure(summary: pd.DataFrame, threshold: float) -> go.Figure:
    points = point_rows(summary)
    scenarios = ordered_scenarios(points)
    colors = backend_colors(ordered_backends(summary))
    rows, cols = _grid(len(scenarios))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[esc(s) for s in scenarios],
                        vertical_spacing=0.5 / max(rows, 1) if rows > 1 else 0.1,
                        horizontal_spacing=0.07)
    shown: set[str] = set()
    for i, scenario in enumerate(scenarios):
        row, col = _cell(i, cols)
        here = points[points["scenario"] == scenario]
        for backend in ordered_backends(here):
            probes = here[here["backend"] == backend].sort_values("rate")
            name, color = esc(backend), colors[backend]
            fig.add_trace(go.Scatter(
                x=probes["rate"], y=probes["attainment"], mode="lines+markers", name=name,
                legendgroup=name, showlegend=backend not in shown, line=dict(color=color),
                hovertemplate=f"{name}<br>rate %{{x:.3g}}/s<br>attainment %{{y:.1%}}"
                              "<extra></extra>",
            ), row=row, col=col)
            shown.add(backend)
            cap = capacity_rate(summary, scenario, backend)
            if cap > 0:
                at = probes.loc[(probes["rate"] - cap).abs().idxmin(), "attainment"]
                fig.add_trace(go.Scatter(
                    x=[cap, cap], y=[0, at], mode="lines+markers", legendgroup=name,
                    showlegend=False, line=dict(color=color, dash="dot"),
                    marker=dict(symbol=["line-ew", "star"], size=[1, 14], color=color),
                    hovertemplate=f"{name} capacity %{{x:.3g}}/s<extra></extra>",
                ), row=row, col=col)
        fig.add_trace(go.Scatter(
            x=[here["rate"].min(), here["rate"].max()], y=[threshold, threshold], mode="lines",
            line=dict(color="#c0392b", dash="dash", width=1), name=f"threshold {threshold:.0%}",
            legendgroup="threshold", showlegend=i == 0, hoverinfo="skip", legendrank=2000,
        ), row=row, col=col)
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    fig.update_xaxes(title_text="offered rate (req/s)", title_standoff=4)
    return _finish(fig, "SLO attainment vs offered rate (★ = capacity)", rows)


def capacity_figure(table: pd.DataFrame) -> go.Figure:
    """Grouped capacity bars labelled with the gain, and the geometric-mean gains."""
    per_scenario = table.drop(index=GEOMEAN_ROW)
    backends = [c for c in table.columns if not c.startswith("gain_")]
    colors = backend_colors(backends)
    gains = [b for b in backends if f"gain_{b}" in table.columns]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.78, 0.22], horizontal_spacing=0.08,
                        subplot_titles=["capacity per GPU (label: gain vs vllm)",
                                        "geometric-mean gain vs vllm"])
    x = [esc(s) for s in per_scenario.index]
    for backend in backends:
        gain_col = f"gain_{backend}"
        labels = ([_times(g) for g in per_scenario[gain_col]] if gain_col in table.columns
                  else [""] * len(x))
        fig.add_trace(go.Bar(
            x=x, y=per_scenario[backend], name=esc(backend), marker_color=colors[backend],
            text=labels, textposition="outside", cliponaxis=False, legendgroup=esc(backend),
            hovertemplate=f"{esc(backend)}<br>%{{x}}: %{{y:.3g}} req/s/GPU<extra></extra>",
        ), row=1, col=1)
    if gains:
        geo = [float(table.loc[GEOMEAN_ROW, f"gain_{b}"]) for b in gains]
        fig.add_trace(go.Bar(
            x=[esc(b) for b in gains], y=geo, text=[_times(g) for g in geo],
            textposition="outside", cliponaxis=False, showlegend=False,
            marker_color=[colors[b] for b in gains],
            hovertemplate="%{x}: %{y:.3f}× vllm<extra></extra>",
        ), row=1, col=2)
        fig.add_hline(y=1.0, line_dash="dash", line_color="#7f7f7f", row=1, col=2)
    fig.update_yaxes(title_text="req/s per GPU", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="gain (×)", rangemode="tozero", row=1, col=2)
    fig.update_layout(barmode="group", uniformtext_minsize=9)
    return _finish(fig, f"Serving capacity per GPU and gains vs {BASELINE}", 1)


def _times(gain: float) -> str:
    return "" if gain is None or not math.isfinite(gain) else f"×{gain:.2f}"


def cdf_figure(requests: pd.DataFrame, ops: pd.DataFrame) -> go.Figure | None:
    """TTFT/SLO and TPOT/SLO CDFs at each backend's operating point.

    Latencies are divided by the request's own SLO because SLOs differ per
    request (stage, class); 1.0 is then the SLO line for all of them. The CDF's
    denominator is every request of the probe, so requests that never produced
    a token (rejected, errors) keep the curve below 100%.
    """
    needed = {"ttft_slo_s", "tpot_slo_s"}
    if requests.empty or ops.empty or not needed <= set(requests.columns):
        return None
    scenarios = ordered_scenarios(ops)
    colors = backend_colors(ordered_backends(ops))
    titles = [f"{esc(s)}: {what}" for s in scenarios for what in ("TTFT / SLO", "TPOT / SLO")]
    fig = make_subplots(rows=len(scenarios), cols=2, subplot_titles=titles,
                        vertical_spacing=min(0.12, 0.35 / len(scenarios)),
                        horizontal_spacing=0.08)
    shown: set[str] = set()
    for r, scenario in enumerate(scenarios, start=1):
        for _, op in ops[ops["scenario"] == scenario].iterrows():
            backend = str(op["backend"])
            probe = requests[(requests["scenario"] == scenario)
                             & (requests["backend"] == backend)
                             & _same_rate(requests["rate"], float(op["rate"]))]
            if probe.empty:
                continue
            name = esc(backend)
            for c, (lat, slo) in enumerate((("ttft_s", "ttft_slo_s"),
                                            ("tpot_s", "tpot_slo_s")), start=1):
                ratio = (probe[lat] / probe[slo]).to_numpy(dtype=float)
                ratio = np.sort(ratio[np.isfinite(ratio) & (ratio > 0)])
                if not len(ratio):
                    continue
                frac = np.arange(1, len(ratio) + 1) / len(probe)
                x, y = _thin(ratio, frac)
                fig.add_trace(go.Scatter(
                    x=x, y=y, mode="lines", name=name, legendgroup=name,
                    showlegend=backend not in shown, line=dict(color=colors[backend]),
                    hovertemplate=f"{name} @ {float(op['rate']):.3g}/s<br>"
                                  "%{x:.3g}× SLO: %{y:.1%}<extra></extra>",
                ), row=r, col=c)
                shown.add(backend)
            for c in (1, 2):
                fig.add_trace(go.Scatter(
                    x=[1, 1], y=[0, 1], mode="lines", name="SLO", legendgroup="slo",
                    legendrank=2000,  # after the backends, whatever order traces came in
                    showlegend="slo" not in shown, hoverinfo="skip",
                    line=dict(color="#c0392b", dash="dash", width=1),
                ), row=r, col=c)
                shown.add("slo")
    # Fixed ticks: plotly's default log ticks label every minor digit, unreadably small.
    ticks = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
    fig.update_xaxes(type="log", title_text="latency / SLO (log)", title_standoff=4,
                     tickvals=ticks, ticktext=[f"{t:g}×" for t in ticks])
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return _finish(fig, "TTFT and TPOT relative to each request's SLO, at the capacity probe",
                   len(scenarios))


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
                            & _same_rate(timeline["rate"], float(op["rate"]))]
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
    return _finish(fig, "Engine state over time at the capacity probe (all replicas)",
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
    return _finish(fig, "Scheduling overhead at the capacity probe", 1)
