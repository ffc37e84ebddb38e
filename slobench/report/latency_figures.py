"""Latency figures for report.html: TTFT and TPOT CDFs against each request's SLO.

Two populations per backend (metrics.summary.Population): admitted calls
(status ok, solid) and all calls (dashed). They part where a scheduler serves
calls it did not admit (best-effort) or where calls time out: the all-call
curve then shows what every client saw, the admitted one what the SLO promise
covered.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from slobench.metrics.summary import Population, population_mask
from slobench.report.figures import backend_colors, esc, finish, same_rate, thin
from slobench.report.gains import ordered_backends, ordered_scenarios

LINE_DASH = {Population.ADMITTED: "solid", Population.ALL: "dash"}
LEGEND_NAME = {Population.ADMITTED: "admitted calls", Population.ALL: "all calls"}
LATENCIES = (("ttft_s", "ttft_slo_s"), ("tpot_s", "tpot_slo_s"))
# Fixed ticks: plotly's default log ticks label every minor digit, unreadably small.
TICKS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]


def cdf_figure(requests: pd.DataFrame, ops: pd.DataFrame) -> go.Figure | None:
    """TTFT/SLO and TPOT/SLO CDFs at each backend's operating point.

    Latencies are divided by the request's own SLO because SLOs differ per
    request (stage, class); 1.0 is then the SLO line for all of them. Each
    curve's denominator is every call of its population, so calls that never
    produced a token (rejected, errors) keep the all-call curve below 100%.
    """
    needed = {"ttft_slo_s", "tpot_slo_s", "status"}
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
            backend, rate = str(op["backend"]), float(op["rate"])
            probe = requests[(requests["scenario"] == scenario)
                             & (requests["backend"] == backend)
                             & same_rate(requests["rate"], rate)]
            for trace, col in _probe_traces(probe, backend, rate, colors[backend], shown):
                fig.add_trace(trace, row=r, col=col)
        for c in (1, 2):
            fig.add_trace(go.Scatter(
                x=[1, 1], y=[0, 1], mode="lines", name="SLO", legendgroup="slo",
                legendrank=2000,  # after the backends, whatever order traces came in
                showlegend="slo" not in shown, hoverinfo="skip",
                line=dict(color="#c0392b", dash="dot", width=1.5),
            ), row=r, col=c)
            shown.add("slo")
    fig.update_xaxes(type="log", title_text="latency / SLO (log)", title_standoff=4,
                     tickvals=TICKS, ticktext=[f"{t:g}×" for t in TICKS])
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", title_text="share of calls",
                     col=1, title_standoff=2)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return finish(fig, "TTFT and TPOT relative to each request's SLO, at the capacity probe "
                       "(solid: admitted calls, dashed: all calls)", len(scenarios))


def _probe_traces(probe: pd.DataFrame, backend: str, rate: float, color: str,
                  shown: set[str]) -> list[tuple[go.Scatter, int]]:
    """Both populations' CDFs of one probe, for the TTFT (col 1) and TPOT (col 2) cells."""
    traces = []
    name = esc(backend)
    for population in (Population.ADMITTED, Population.ALL):
        members = probe[population_mask(probe["status"], population)]
        label = f"{name}, {LEGEND_NAME[population]}"
        for col, (lat, slo) in enumerate(LATENCIES, start=1):
            ratio = (members[lat] / members[slo]).to_numpy(dtype=float)
            ratio = np.sort(ratio[np.isfinite(ratio) & (ratio > 0)])
            if not len(ratio):
                continue
            x, y = thin(ratio, np.arange(1, len(ratio) + 1) / len(members))
            traces.append((go.Scatter(
                x=x, y=y, mode="lines", name=label, legendgroup=label,
                showlegend=label not in shown,
                line=dict(color=color, dash=LINE_DASH[population]),
                hovertemplate=f"{label} @ {rate:.3g} sessions/s<br>"
                              "%{x:.3g}× SLO: %{y:.1%}<extra></extra>",
            ), col))
            shown.add(label)
    return traces
