"""`slobench compare` and `slobench gate`: runs read back from their folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from slobench.cli import options as opt
from slobench.cli.shell import app, console


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run folders; deltas are against the first.")],
    out: Annotated[Path | None, typer.Option(
        callback=opt.COMPARE_OUT, help="Write a self-contained HTML here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records.")] = False,
) -> None:
    """Compare several runs side by side (capacity, gains, p99s, overhead).
    Exit status: 0 done, 2 bad input (a folder that is not a run, an unwritable --out)."""
    from slobench.report.compare import compare_loaded, render_compare, write_compare_html
    from slobench.report.run_dir import load_run

    loaded = [load_run(p) for p in runs]
    frame = compare_loaded(loaded)
    if as_json:
        typer.echo(frame.to_json(orient="records", indent=2))
    else:
        render_compare(frame, console)
    if out:
        write_compare_html(frame, loaded, out)
        console.print(Text(f"wrote {out}"))


@app.command()
def gate(
    run_dir: Annotated[Path, typer.Argument(help="The new run folder.")],
    baseline: Annotated[Path, typer.Option(help="The baseline run folder.")],
    min_attainment: Annotated[float, typer.Option(
        callback=opt.MIN_ATTAINMENT, help="Attainment every point must hold.")] = 0.90,
    max_capacity_drop: Annotated[float, typer.Option(
        callback=opt.MAX_CAPACITY_DROP, help="Largest allowed relative capacity drop.")] = 0.05,
    max_p99_ttft_increase: Annotated[float | None, typer.Option(
        callback=opt.MAX_P99_INCREASE,
        help="Largest allowed relative p99 TTFT increase (off by default).")] = None,
    max_p99_tpot_increase: Annotated[float | None, typer.Option(
        callback=opt.MAX_P99_INCREASE,
        help="Largest allowed relative p99 TPOT increase (off by default).")] = None,
) -> None:
    """CI gate: exit 0 when every scenario/backend holds; 1 on a regression, an aborted
    run, or a capacity at the search's edge (≥ X / < X: a bound, never compared); 2 on
    bad input, runs of different kinds (capacity search vs fixed rates) or settings."""
    from slobench.report.gate import gate as run_gate
    from slobench.report.gate import render_gate
    from slobench.report.run_dir import load_run

    result = run_gate(load_run(run_dir), load_run(baseline), min_attainment=min_attainment,
                      max_capacity_drop=max_capacity_drop,
                      max_p99_ttft_increase=max_p99_ttft_increase,
                      max_p99_tpot_increase=max_p99_tpot_increase)
    render_gate(result, console)
    raise typer.Exit(0 if result.passed else 1)
