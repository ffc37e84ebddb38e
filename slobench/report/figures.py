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

from slobench.metrics.capacity import CapacityBound
from slobench.report.gains import (
    BASELINE,
    GEOMEAN_ROW,
    bounded_gain,
    capacity_rate,
    capacity_rows,
    capacity_table,
    gain_text,
    ordered_backends,
    ordered_scenarios,
    point_rows,
    shown_capacity,
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


def thin(x: np.ndarray, y: np.ndarray, limit: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Evenly spaced subset, always keeping both ends (a CDF's tails matter)."""
    if len(x) <= limit:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, limit).round().astype(int))
    return x[keep], y[keep]


def same_rate(values: pd.Series, rate: float) -> pd.Series:
    return pd.Series(np.isclose(values.astype(float), rate, rtol=1e-9, atol=0), index=values.index)


def finish(fig: go.Figure, title: str, rows: int) -> go.Figure:
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
                hovertemplate=f"{name}<br>%{{x:.3g}} sessions/s<br>attainment %{{y:.1%}}"
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
    fig.update_xaxes(title_text="offered rate (sessions/s)", title_standoff=4)
    return finish(fig, "SLO attainment vs offered rate (★ = capacity)", rows)


def capacity_figure(summary: pd.DataFrame) -> go.Figure:
    """Grouped capacity bars labelled with the gain, and the geometric-mean gains.

    A capacity at the search's edge is hatched (≥ X) or, having no height, labelled
    `< X`; the gains drawn from it carry their bound (gains.bounded_gain).
    """
    table = capacity_table(summary)
    caps = capacity_rows(summary).set_index(["scenario", "backend"])
    per_scenario = table.drop(index=GEOMEAN_ROW)
    backends = [c for c in table.columns if not c.startswith("gain_")]
    colors = backend_colors(backends)
    gains = [b for b in backends if f"gain_{b}" in table.columns]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.78, 0.22], horizontal_spacing=0.08,
                        subplot_titles=["capacity per GPU (label: gain vs vllm)",
                                        "geometric-mean gain vs vllm"])
    x = [esc(s) for s in per_scenario.index]
    for backend in backends:
        rows = [caps.loc[(s, backend)] if (s, backend) in caps.index else None
                for s in per_scenario.index]
        bounds = [str(r["capacity_bound"]) if r is not None else "" for r in rows]
        shown = [shown_capacity(r) if r is not None else "–" for r in rows]
        labels = [_bar_label(caps, s, backend, per_scenario, b, text)
                  for s, b, text in zip(per_scenario.index, bounds, shown, strict=True)]
        fig.add_trace(go.Bar(
            x=x, y=per_scenario[backend], name=esc(backend), marker_color=colors[backend],
            marker_pattern_shape=["/" if b == CapacityBound.AT_LEAST else "" for b in bounds],
            text=labels, textposition="outside", cliponaxis=False, legendgroup=esc(backend),
            customdata=shown,
            hovertemplate=f"{esc(backend)}<br>%{{x}}: %{{customdata}} sessions/s per GPU"
                          "<extra></extra>",
        ), row=1, col=1)
    if gains:
        geo = [float(table.loc[GEOMEAN_ROW, f"gain_{b}"]) for b in gains]
        fig.add_trace(go.Bar(
            x=[esc(b) for b in gains], y=geo, text=[gain_text("", g) for g in geo],
            textposition="outside", cliponaxis=False, showlegend=False,
            marker_color=[colors[b] for b in gains],
            hovertemplate="%{x}: %{y:.3f}× vllm<extra></extra>",
        ), row=1, col=2)
        fig.add_hline(y=1.0, line_dash="dash", line_color="#7f7f7f", row=1, col=2)
    fig.update_yaxes(title_text="sessions/s per GPU", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="gain (×)", rangemode="tozero", row=1, col=2)
    fig.update_layout(barmode="group", uniformtext_minsize=9)
    return finish(fig, f"Serving capacity per GPU and gains vs {BASELINE} "
                       "(hatched: ≥, the search never failed)", 1)


def _bar_label(caps: pd.DataFrame, scenario: str, backend: str, table: pd.DataFrame,
               bound: str, shown: str) -> str:
    """The gain over vllm (with its bound); a bar with no height says `< X` instead."""
    if bound == CapacityBound.BELOW:
        return shown
    column = f"gain_{backend}"
    if column not in table.columns:
        return ""
    relation, value = bounded_gain(caps, scenario, backend, float(table.loc[scenario, column]))
    text = gain_text(relation, value)
    return "" if text == "–" else esc(text)
