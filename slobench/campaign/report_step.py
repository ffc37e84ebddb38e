"""End of a run: the final table on the terminal and report.html on disk."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape  # scenario names come from users' files
from rich.table import Table

from slobench.campaign.campaign import headline_gains
from slobench.campaign.writer import RunWriter
from slobench.core.outcome import Status
from slobench.metrics.capacity import CapacityBound
from slobench.metrics.summary import PERCENTILES, Population, latency_column, share_column
from slobench.report.gains import (
    bounded_gain,
    capacity_rows,
    counts_calls_apart,
    gain_text,
    operating_points,
    point_rows,
    shown_capacity,
)

# On a narrow terminal cells wrap rather than end in "…" (a cut digit misleads), and the
# scenario name stays whole.
_WRAP: dict[bool, dict[str, Any]] = {True: {"no_wrap": True}, False: {"overflow": "fold"}}


def _f(x: object, spec: str = ".3g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, spec)


def print_final_table(writer: RunWriter, console: Console) -> None:
    summary = writer.summary_frame()
    caps = capacity_rows(summary)
    if not caps.empty:
        _print_capacity(writer, caps, console)
        ops = operating_points(summary, writer.meta.get("threshold", 0.9))
        console.print(_probe_table(ops, "At each capacity probe"))
        console.print(_latency_table(ops, "Latency at each capacity probe"))
        return
    console.print(_probe_table(point_rows(summary), "Probes"))
    console.print(_latency_table(point_rows(summary), "Latency at each probe"))


def _print_capacity(writer: RunWriter, caps: pd.DataFrame, console: Console) -> None:
    calls = counts_calls_apart(caps)
    table = Table(title="Serving capacity (attainment ≥ "
                  f"{writer.meta.get('threshold', 0.9):.0%})")
    columns = ["scenario", "backend", "sessions/s", "sessions/s per GPU",
               *(["calls/s per GPU"] if calls else []), "gain vs vllm", "probes"]
    for col in columns:
        table.add_column(col, justify="right" if col != "scenario" else "left",
                         **_WRAP[col == "scenario"])
    indexed = caps.set_index(["scenario", "backend"], drop=False)
    for _, r in caps.iterrows():
        relation, gain = bounded_gain(indexed, r["scenario"], r["backend"],
                                      float(r.get("gain_vs_vllm", math.nan)))
        table.add_row(escape(r["scenario"]), r["backend"], shown_capacity(r, per_gpu=False),
                      shown_capacity(r), *([shown_capacity(r, "calls")] if calls else []),
                      gain_text(relation, gain) if r["backend"] != "vllm" else "",
                      _f(r.get("probes"), ".0f"))
    console.print(table)
    console.print(f"output lengths: {writer.meta.get('output_lengths', 'known')} "
                  "(the scheduler's view; --output-lengths)")
    if (caps["capacity_bound"] != CapacityBound.MEASURED.value).any():
        console.print("≥ X: the search never failed (X is the highest rate it probed); "
                      "< X: it never passed (X is the lowest). Bounds, not measurements.")
    no_base = sorted({r["scenario"] for _, r in caps.iterrows()
                      if r["backend"] == "vllm" and not r["capacity_rps"] > 0})
    if no_base:
        console.print(f"vllm met the threshold at no rate for: {', '.join(no_base)} "
                      "(gain undefined there, left out of the geometric mean)")
    for backend, g in headline_gains(writer).items():
        console.print(f"geometric-mean gain of [bold]{backend}[/] over vllm: "
                      f"[bold]{gain_text('', g)}[/]")


def _probe_table(points: pd.DataFrame, title: str) -> Table:
    """Rate (both units where they differ), attainment, status shares, overhead."""
    table = Table(title=title)
    calls = counts_calls_apart(points)
    for col in ["scenario", "backend", "sessions/s", *(["calls/s"] if calls else []),
                "attainment", "calls by status", "sched p99 ms"]:
        table.add_column(col, **_WRAP[col == "scenario"])
    for _, r in points.iterrows():
        rates = [_f(r.get("rate_sessions_per_s", r["rate"]))]
        rates += [_f(r.get("rate_calls_per_s"))] if calls else []
        table.add_row(escape(str(r["scenario"])), str(r["backend"]), *rates,
                      _f(r["attainment"], ".1%"), _shares(r), _f(r["sched_overhead_p99_ms"]))
    return table


def _latency_table(points: pd.DataFrame, title: str) -> Table:
    """TTFT/TPOT p50/p90/p99 per probe, a row for all calls and one for admitted calls
    (metrics.summary's populations)."""
    table = Table(title=title)
    for col in ("scenario", "backend", "sessions/s", "calls", "TTFT s p50 p90 p99",
                "TPOT ms p50 p90 p99"):
        table.add_column(col, **_WRAP[col == "scenario"])
    for _, r in points.iterrows():
        for population in Population:
            cells = [" ".join(_f(r.get(latency_column(m, q, population), math.nan) * scale)
                              for q in PERCENTILES) for m, scale in (("ttft", 1.0), ("tpot", 1e3))]
            first = population is Population.ALL
            table.add_row(escape(str(r["scenario"])) if first else "",
                          str(r["backend"]) if first else "",
                          _f(r["rate"]) if first else "", population.value, *cells,
                          end_section=not first)
    return table


def _shares(row: pd.Series) -> str:
    """Non-zero status shares, e.g. `ok 92% best_effort 8%`."""
    parts = [f"{s.value} {row[share_column(s)]:.0%}" for s in Status
             if share_column(s) in row and row[share_column(s)] > 0]
    return " ".join(parts) or "-"


def write_report_if_possible(writer: RunWriter, console: Console,
                             quiet: bool = False) -> None:
    from slobench.report.html import write_report
    from slobench.report.run_dir import load_run

    path = write_report(load_run(writer.out_dir), writer.out_dir / "report.html")
    if not quiet:
        console.print(f"report: {path}")
