"""What `slobench run` prints while it runs and at the end.

Three ways to show it: rich progress bars and tables on a terminal; plain lines, one per
event, when stdout is not one (CI logs keep every line, no bar redraws); `--json` (the
headline rows as one JSON document on stdout, everything else on stderr, for scripts);
and `--quiet` (no progress, no tables: only problems and the results folder).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from slobench.cli.shell import console, err_console, say
from slobench.core.errors import EngineError

if TYPE_CHECKING:
    from slobench.campaign.config import RunConfig
    from slobench.campaign.writer import RunWriter


class _RichProgress:
    """Shows the capacity search: scenario, backend, rate being probed, attainment; and,
    above the bars, what the run must tell (failed calls, workload notes, calibration)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None
        self.last = ""

    def start(self, scenario: str, backend: str) -> None:
        self.last = ""
        self.task = self.progress.add_task(f"{scenario} / {backend}", total=None, status="")

    def probing(self, scenario: str, backend: str, rate: float) -> None:
        assert self.task is not None
        self.progress.update(self.task, status=f"probing {rate:.3g}/s … {self.last}")

    def probe(self, scenario: str, backend: str, rate: float, attainment: float) -> None:
        assert self.task is not None
        self.last = f"(last: {rate:.3g}/s → {attainment:.1%})"
        self.progress.update(self.task, advance=1,
                             status=f"rate {rate:.3g}/s → attainment {attainment:.1%}")

    def done(self, scenario: str, backend: str, capacity: float | None) -> None:
        assert self.task is not None
        text = "done" if capacity is None else f"capacity {capacity:.3g} sessions/s"
        self.progress.update(self.task, status=text, total=1, completed=1)

    def note(self, text: str) -> None:
        self.progress.console.print(Text(text), soft_wrap=False)


class PlainProgress:
    """One plain line per event (no bar, no cursor moves); `quiet` keeps only notes,
    which are what the run must tell (failed calls, workload notes)."""

    def __init__(self, out: Console, quiet: bool = False) -> None:
        self.out, self.quiet = out, quiet

    def _line(self, text: str) -> None:
        if not self.quiet:
            self.out.print(Text(text), soft_wrap=True)

    def start(self, scenario: str, backend: str) -> None:
        self._line(f"{scenario} / {backend}: started")

    def probing(self, scenario: str, backend: str, rate: float) -> None:
        self._line(f"{scenario} / {backend}: probing {rate:.3g} sessions/s")

    def probe(self, scenario: str, backend: str, rate: float, attainment: float) -> None:
        self._line(f"{scenario} / {backend}: {rate:.3g} sessions/s -> attainment "
                   f"{attainment:.1%}")

    def done(self, scenario: str, backend: str, capacity: float | None) -> None:
        text = "done" if capacity is None else f"capacity {capacity:.3g} sessions/s"
        self._line(f"{scenario} / {backend}: {text}")

    def note(self, text: str) -> None:
        self.out.print(Text(text), soft_wrap=True)

    def status(self, text: str) -> None:
        """What the run is doing (calibration's steps): not a problem, so --quiet hides it."""
        self._line(text)


@contextlib.contextmanager
def _progress(out: Console, quiet: bool) -> Iterator[Any]:
    if quiet or not out.is_terminal:
        yield PlainProgress(out, quiet)
        return
    columns = [TextColumn("{task.description}", markup=False), BarColumn(),
               TextColumn("{task.fields[status]}", markup=False), TimeElapsedColumn()]
    with Progress(*columns, console=out, transient=False) as bar:
        yield _RichProgress(bar)


def run_and_report(cfg: RunConfig, report: bool, *, as_json: bool = False,
                   quiet: bool = False) -> None:
    """Run the campaign, print its tables and write the report; exit 1 when the run
    failed (a server died, the failure budget was spent), with its results on disk."""
    from slobench.campaign.campaign import run_campaign
    from slobench.campaign.report_step import print_final_table, write_report_if_possible

    out = err_console if as_json else console     # --json: stdout holds the JSON only
    try:
        with _progress(out, quiet) as progress:
            writer = run_campaign(cfg, progress)
    except KeyboardInterrupt:
        raise typer.Exit(say(f"interrupted{_so_far(cfg.out)}", 130)) from None
    except EngineError as exc:
        raise typer.Exit(say(f"engine failed: {exc}{_so_far(cfg.out)}", 1)) from None
    if not quiet:
        print_final_table(writer, out)
    if report:
        write_report_if_possible(writer, out, quiet)
    if cfg.real.twin:
        from slobench.cli.instrument_commands import twin_and_report

        twin_and_report(writer.out_dir)
    if as_json:
        typer.echo(json.dumps(headline(writer), indent=2, allow_nan=False))
    out.print(Text(f"results: {writer.out_dir}"))
    spent = writer.meta.get("failure_budget_spent", [])
    if spent:
        raise typer.Exit(say(f"run failed: {len(spent)} search(es) ended by the failure "
                             f"budget, first: {spent[0]}", 1))


HEADLINE_COLUMNS = ("kind", "scenario", "backend", "engine", "rate", "attainment",
                    "capacity_rps", "capacity_rps_per_gpu", "capacity_bound", "gain_vs_vllm",
                    "ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "num_requests",
                    "n_ok", "n_error", "n_timeout", "n_rejected")


def headline(writer: RunWriter) -> dict[str, Any]:
    """The headline table as plain JSON: one object per summary row (probe points and
    capacities), numbers as numbers, missing ones as null."""
    rows = []
    for rec in writer.summary_frame().to_dict("records"):
        rows.append({k: _plain(rec[k]) for k in HEADLINE_COLUMNS if k in rec})
    return {"run_dir": str(writer.out_dir), "rows": rows,
            "failure_budget_spent": writer.meta.get("failure_budget_spent", [])}


def _plain(x: Any) -> Any:
    if hasattr(x, "item"):                  # numpy scalars
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _so_far(out: Path | None) -> str:
    measured = out is not None and (out / "run.json").exists()
    return f" (results gathered so far are in {out})" if measured else " (nothing measured)"
