"""What `slobench run --paper` checks first and prints at the end."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from slobench.cli.shell import console, err_console, say
from slobench.core.errors import EngineError, input_error

if TYPE_CHECKING:
    import pandas as pd

    from slobench.campaign.config import RunConfig


def check_paper_options(ctx: typer.Context) -> None:
    """--paper sets model, GPUs, backends and drafting per scenario: refuse any of those
    given on the command line too, rather than ignore it."""
    from slobench.campaign.paper import PAPER_OWNS, PAPER_REFUSES

    reasons = {**{n: "--paper sets it per scenario (the scenario file's [paper] table); "
                  "drop one of the two" for n in PAPER_OWNS}, **PAPER_REFUSES}
    for name, why in reasons.items():
        source = ctx.get_parameter_source(name)
        # By name: typer bundles its own click, whose enum is not click.core's.
        if source is not None and source.name == "COMMANDLINE":
            raise input_error("--" + name.replace("_", "-"), None, why)


def paper_failure_budget(ctx: typer.Context, given: float) -> float:
    """--paper's failure budget: 1 (off) unless given. On the simulator a "timeout" is a
    call an overloaded probe left unfinished, not a failed server: the search should
    read it as a failing rate, not end there (summarization's one OPT-30B replica is
    overloaded ~10x at the search's first rate)."""
    source = ctx.get_parameter_source("failure_budget")
    return given if source is not None and source.name == "COMMANDLINE" else 1.0


def run_paper_and_report(cfg: RunConfig, report: bool, force: bool, *, as_json: bool = False,
                         quiet: bool = False) -> None:
    from slobench.campaign.paper import plan_paper_runs, run_paper
    from slobench.campaign.report_step import write_report_if_possible
    from slobench.cli.run_output import _progress

    out_dir, runs = plan_paper_runs(cfg, force)        # bad input: exit 2, nothing ran
    out = err_console if as_json else console
    try:
        with _progress(out, quiet) as progress:
            study = run_paper(out_dir, runs, progress, after_each=(
                (lambda w: write_report_if_possible(w, out, quiet=True)) if report else None))
    except KeyboardInterrupt:
        raise typer.Exit(say(f"interrupted (finished scenarios are in {out_dir})", 130)) from None
    except EngineError as exc:
        raise typer.Exit(say(f"engine failed: {exc}", 1)) from None
    if not quiet:
        print_paper_tables(study.table, out)
    if as_json:
        typer.echo((out_dir / "paper.json").read_text().rstrip())
    out.print(Text(f"results: {out_dir} (one run folder per scenario, paper.json)"))
    if study.failure_budget_spent:
        raise typer.Exit(say(f"run failed: {len(study.failure_budget_spent)} search(es) "
                             f"ended by the failure budget, first: "
                             f"{study.failure_budget_spent[0]}", 1))


def print_paper_tables(table: pd.DataFrame, out: Console) -> None:
    from slobench.report.paper_table import BASELINES, GAIN_COLUMNS, GEOMEAN, TARGET

    caps = Table(title="Serving capacity on the paper's deployments (sessions/s per GPU)")
    # On a narrow terminal cells wrap ("fold") rather than end in "…" (a cut digit misleads).
    for col in ("scenario", "model", "deployment", "drafts", *BASELINES, TARGET):
        caps.add_column(col, justify="left" if col in ("scenario", "model") else "right",
                        overflow="fold")
    gains = Table(title=f"Gain of {TARGET} (capacity per GPU over the baseline's)")
    for col in ("scenario", *GAIN_COLUMNS, "paper"):
        gains.add_column(col, justify="left" if col == "scenario" else "right",
                         overflow="fold")
    for rec in table.to_dict("records"):
        geo = rec["scenario"] == GEOMEAN
        if not geo:
            caps.add_row(rec["scenario"], rec["model"], rec["deployment"], str(rec["drafts"]),
                         *(str(rec[b]) for b in (*BASELINES, TARGET)))
        paper = rec["paper"]
        gains.add_row(rec["scenario"], *(rec[c].text() for c in GAIN_COLUMNS),
                      "–" if not math.isfinite(paper) else f"×{paper:.2f}")
    out.print(caps)
    out.print(gains)
    out.print("vs best: the best of vllm, vllm_spec and sarathi in that scenario; the paper's "
              "headline (×2.20) is the geometric mean against the better of vLLM and "
              "Sarathi-Serve. ≥ / < mark a capacity at the search's edge.")
