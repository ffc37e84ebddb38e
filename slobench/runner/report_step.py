"""End of a run: the final table on the terminal and report.html on disk."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from .campaign import headline_gains
from .writer import RunWriter


def _f(x: object, spec: str = ".3g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, spec)


def print_final_table(writer: RunWriter, console: Console) -> None:
    rows = writer.summary_rows
    capacity = [r for r in rows if r["kind"] == "capacity"]
    if capacity:
        table = Table(title="Serving capacity (attainment ≥ "
                      f"{writer.meta.get('threshold', 0.9):.0%})")
        for col in ("scenario", "backend", "capacity req/s", "req/s per GPU", "gain vs vllm",
                    "probes"):
            table.add_column(col, justify="right" if col != "scenario" else "left")
        for r in capacity:
            table.add_row(r["scenario"], r["backend"], _f(r["capacity_rps"]),
                          _f(r["capacity_rps_per_gpu"]), _f(r.get("gain_vs_vllm"), ".2f"),
                          str(r.get("probes", "")))
        console.print(table)
        console.print(f"output lengths: {writer.meta.get('output_lengths', 'known')} "
                      "(the scheduler's view; --output-lengths)")
        no_base = sorted({r["scenario"] for r in capacity
                          if r["backend"] == "vllm" and not r["capacity_rps"] > 0})
        if no_base:
            console.print(f"vllm met the threshold at no rate for: {', '.join(no_base)} "
                          "(gain undefined there, left out of the geometric mean)")
        for backend, g in headline_gains(writer).items():
            console.print(f"geometric-mean gain of [bold]{backend}[/] over vllm: "
                          f"[bold]{_f(g, '.2f')}x[/]")
        return
    table = Table(title="Probes")
    for col in ("scenario", "backend", "rate", "attainment", "ttft p99 s", "tpot p99 s",
                "rejected", "sched p99 ms"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["scenario"], r["backend"], _f(r["rate"]), _f(r["attainment"], ".1%"),
                      _f(r["ttft_p99_s"]), _f(r["tpot_p99_s"]), str(r["n_rejected"]),
                      _f(r["sched_overhead_p99_ms"]))
    console.print(table)


def write_report_if_possible(writer: RunWriter, console: Console) -> None:
    from slobench.report.html import write_report
    from slobench.report.run_dir import load_run

    path = write_report(load_run(writer.out_dir), writer.out_dir / "report.html")
    console.print(f"report: {path}")
