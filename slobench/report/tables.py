"""The report's HTML tables: capacity per GPU with gains, and the operating points.

Every number carries its unit in the header; a capacity at the search's edge is
shown as `≥ X` / `< X` and the gains computed from it say which way they are
bounded (gains.gain_relation). Latencies at an operating point come in both
populations (metrics.summary): all calls, and admitted calls only.
"""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

from slobench.core.outcome import Status
from slobench.metrics.capacity import CapacityBound
from slobench.metrics.summary import (
    LATENCY_METRICS,
    PERCENTILES,
    Population,
    latency_column,
    share_column,
)
from slobench.report.gains import (
    BASELINE,
    GEOMEAN_ROW,
    bounded_gain,
    capacity_rows,
    capacity_table,
    counts_calls_apart,
    gain_text,
    shown_capacity,
)

esc = html.escape

POPULATION_LABEL = {Population.ALL: "all calls", Population.ADMITTED: "admitted calls (ok)"}
LATENCY_UNIT = {"ttft": ("TTFT", "s", 1.0), "tpot": ("TPOT", "ms", 1e3)}
STATUS_LABEL = {Status.OK: "ok", Status.REJECTED: "rejected", Status.BEST_EFFORT: "best-effort",
                Status.ERROR: "error", Status.TIMEOUT: "timeout"}


def fmt(value: Any, kind: str = "num") -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return esc(str(value))
    if not math.isfinite(number):
        return "–"
    if kind == "pct":
        return f"{number:.1%}"
    return f"{number:.3g}"


def html_table(heads: list[str], body: list[str]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in heads)
    return (f'<table class="num"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _row(cells: list[str], css: str = "") -> str:
    attr = f' class="{css}"' if css else ""
    return f"<tr{attr}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def capacity_html(summary: pd.DataFrame) -> str:
    """Scenario rows × backend capacities (sessions/s/GPU, and calls/s/GPU where they
    differ), the gains vs vllm, and their geometric mean."""
    table = capacity_table(summary)
    caps = capacity_rows(summary).set_index(["scenario", "backend"])
    backends = [c for c in table.columns if not c.startswith("gain_")]
    gains = [c[5:] for c in table.columns if c.startswith("gain_")]
    calls = counts_calls_apart(caps)
    heads = ["scenario"]
    for b in backends:
        heads += [f"{b} (sessions/s per GPU)"] + ([f"{b} (calls/s per GPU)"] if calls else [])
    heads += [f"gain {b} vs {BASELINE}" for b in gains]
    body, bounded = [], {b: False for b in gains}
    for scenario in table.index.drop(GEOMEAN_ROW):
        cells = [esc(str(scenario))]
        for b in backends:
            row = caps.loc[(scenario, b)] if (scenario, b) in caps.index else None
            units = ("sessions", "calls") if calls else ("sessions",)
            cells += [esc(shown_capacity(row, u)) if row is not None else "–" for u in units]
        for b in gains:
            relation, value = bounded_gain(caps, scenario, b,
                                           float(table.loc[scenario, f"gain_{b}"]))
            bounded[b] |= relation != "" and math.isfinite(value)
            cells.append(esc(gain_text(relation, value)))
        body.append(_row(cells))
    geo = ["geometric mean"] + [""] * (len(heads) - 1 - len(gains))
    geo += [esc(gain_text("", float(table.loc[GEOMEAN_ROW, f"gain_{b}"])))
            + (" (includes bounds)" if bounded[b] else "") for b in gains]
    body.append(_row(geo, "total"))
    note = ("Capacity: the highest rate of sessions per second holding the attainment "
            "threshold, per GPU" + (" (a session of a multi-call scenario is several calls)."
                                    if calls else "."))
    if any(bounded.values()) or (caps["capacity_bound"] != CapacityBound.MEASURED.value).any():
        note += (" <b>≥ X</b>: the search never failed, X is the highest rate it probed; "
                 "<b>&lt; X</b>: it never passed, X is the lowest rate it probed. Gains from "
                 "such bounds are bounds themselves.")
    return html_table(heads, body) + f'<p class="note">{note}</p>'



def ops_html(ops: pd.DataFrame) -> str:
    """One row per operating point: rate, attainment, status shares, latency in both
    populations, scheduling overhead; a two-row header groups the columns."""
    if ops.empty:
        return '<p class="note">No probes.</p>'
    calls = counts_calls_apart(ops)
    single = [("rate_sessions_per_s", "rate (sessions/s)")]
    single += [("rate_calls_per_s", "rate (calls/s)")] if calls else []
    single += [("attainment", "attainment")]
    groups: list[tuple[str, list[tuple[str, str, float]]]] = [
        ("calls by status (share)", [(share_column(s), STATUS_LABEL[s], 0.0) for s in Status])]
    for metric in LATENCY_METRICS:
        name, unit, scale = LATENCY_UNIT[metric]
        for population in Population:
            groups.append((f"{name} ({unit}), {POPULATION_LABEL[population]}",
                           [(latency_column(metric, q, population), f"p{q}", scale)
                            for q in PERCENTILES]))
    tail = [("sched_overhead_p99_ms", "sched p99 (ms)")]
    top = "".join(f'<th rowspan="2">{esc(h)}</th>'
                  for h in ["scenario", "backend"] + [h for _, h in single])
    top += "".join(f'<th colspan="{len(cols)}">{esc(title)}</th>' for title, cols in groups)
    top += "".join(f'<th rowspan="2">{esc(h)}</th>' for _, h in tail)
    sub = "".join(f"<th>{esc(h)}</th>" for _, cols in groups for _, h, _ in cols)
    body = []
    for _, row in ops.iterrows():
        cells = [esc(str(row["scenario"])), esc(str(row["backend"]))]
        cells += [fmt(_get(row, c), "pct" if c == "attainment" else "num") for c, _ in single]
        for _, cols in groups:
            cells += [fmt(_get(row, c), "pct") if scale == 0.0 else fmt(_get(row, c) * scale)
                      for c, _, scale in cols]
        cells += [fmt(_get(row, c)) for c, _ in tail]
        body.append(_row(cells))
    note = ('<p class="note">The probe at each capacity (or, for fixed-rate runs, the highest '
            "passing rate); the CDF, timeline and overhead figures use the same probes. "
            "<b>All calls</b>: every call that has the value, whatever its status "
            "(best-effort and timed-out calls included; a rejected call has no first token). "
            "<b>Admitted calls</b>: status ok only, the calls served under their SLO.</p>")
    return (note + f'<div class="wide"><table class="num ops"><thead><tr>{top}</tr>'
            f'<tr>{sub}</tr></thead><tbody>{"".join(body)}</tbody></table></div>')


def _get(row: pd.Series, column: str) -> float:
    """A column of a row, NaN where an older summary.parquet lacks it."""
    value = row.get(column, math.nan)
    return math.nan if value is None or pd.isna(value) else float(value)
