"""Regression gate: does a new run hold up against a baseline run?

Per (scenario, backend) of the baseline:
- missing from the new run: failure (a backend or scenario silently dropped
  must not pass CI);
- capacity runs (either side has a capacity row): capacity_rps_per_gpu may
  drop at most `max_capacity_drop` (relative), and the new run's probe at its
  capacity must reach `min_attainment`;
- fixed-rate runs (point rows only): at each rate both runs probed, attainment
  must reach `min_attainment`; no common rate at all is a failure;
- optionally, p99 TTFT / TPOT may rise at most the given relative amount,
  compared at the operating point (capacity runs) or at the same rate; these
  are all-call percentiles (metrics.summary), what every client saw.

A capacity at the search's edge (`capacity_bound` at_least: `≥ X`, the search
never failed; below: `< X`, it never passed) is a bound, not a measurement:
the gate does not compare it. That check is UNBOUNDED, which is not a pass:
the gate fails (exit 1) and says which side is a bound and why, so that CI
fixes the run (a lower --min-rate, a workload that loads the engine) instead
of trusting a number the search never pinned down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from slobench.core.errors import input_error
from slobench.metrics.capacity import CapacityBound
from slobench.report.gains import (
    capacity_rows,
    operating_points,
    point_rows,
    scenario_sort_key,
    shown_capacity,
)
from slobench.report.gate_inputs import check_comparable, incomplete
from slobench.report.run_dir import RunData


@dataclass
class GateCheck:
    scenario: str
    backend: str
    metric: str
    base: float
    new: float
    limit: float
    ok: bool
    bound: str = "min"          # "min": new must be >= limit; "max": new must be <= limit
    rate: float = math.nan      # the probe rate for fixed-rate checks
    note: str = ""
    unbounded: bool = False     # not compared: a capacity at the search's edge
    shown: tuple[str, str] = ("", "")  # base and new as printed, when not plain numbers


@dataclass
class GateResult:
    passed: bool
    rows: list[GateCheck] = field(default_factory=list)

    @property
    def failures(self) -> list[GateCheck]:
        return [r for r in self.rows if not r.ok]

    @property
    def unbounded(self) -> list[GateCheck]:
        return [r for r in self.rows if r.unbounded]


def gate(new: RunData, base: RunData, min_attainment: float = 0.9,
         max_capacity_drop: float = 0.05, max_p99_ttft_increase: float | None = None,
         max_p99_tpot_increase: float | None = None) -> GateResult:
    pairs = _pairs(base.summary)
    if not pairs:
        raise input_error(str(base.path), "summary.parquet", "baseline has no rows to gate against")
    check_comparable(new, base)
    p99_limits = {m: v for m, v in (("ttft_p99_s", max_p99_ttft_increase),
                                    ("tpot_p99_s", max_p99_tpot_increase)) if v is not None}
    ctx = _Context(new, base, min_attainment, max_capacity_drop, p99_limits)
    new_pairs = set(_pairs(new.summary))
    rows = [_finished_check(new, base)]
    for scenario, backend in pairs:
        if (scenario, backend) not in new_pairs:
            rows.append(GateCheck(scenario, backend, "present", 1.0, 0.0, 1.0, False,
                                  note="missing from the new run", shown=("yes", "no")))
        elif ctx.is_capacity_pair(scenario, backend):
            rows += ctx.capacity_checks(scenario, backend)
        else:
            rows += ctx.fixed_rate_checks(scenario, backend)
    return GateResult(passed=all(r.ok for r in rows), rows=rows)


def _finished_check(new: RunData, base: RunData) -> GateCheck:
    """An aborted run (a server died, the failure budget was spent) fails the gate: its
    numbers are what was measured before it stopped, not the run asked for."""
    why_new, why_base = incomplete(new.meta), incomplete(base.meta)
    note = "; ".join(f"{side} {why}" for side, why in (("base", why_base), ("new", why_new))
                     if why)
    return GateCheck("(run)", "", "finished", math.nan, math.nan, math.nan,
                     ok=not note, note=note,
                     shown=("no" if why_base else "yes", "no" if why_new else "yes"))


def _pairs(summary: pd.DataFrame) -> list[tuple[str, str]]:
    pairs = {(str(s), str(b)) for s, b in summary[["scenario", "backend"]].itertuples(index=False)}
    return sorted(pairs, key=lambda p: (scenario_sort_key(p[0]), p[1]))


def _value(row: pd.Series | None, column: str) -> float:
    if row is None or column not in row.index or pd.isna(row[column]):
        return math.nan
    return float(row[column])


def _edge_note(base: pd.Series | None, new: pd.Series | None) -> str:
    """Why a capacity pair cannot be compared ('' when both were measured)."""
    why = {CapacityBound.AT_LEAST.value: "the search never failed, up to its highest rate",
           CapacityBound.BELOW.value: "the search never passed, down to --min-rate"}
    parts = [f"{side} capacity {shown_capacity(row)} sessions/s per GPU "
             f"({why[str(row['capacity_bound'])]})"
             for side, row in (("base", base), ("new", new))
             if row is not None and str(row["capacity_bound"]) in why]
    return "; ".join(parts) + "; a bound, not compared" if parts else ""


def _min_check(scenario: str, backend: str, metric: str, base: float, new: float,
               limit: float, rate: float = math.nan) -> GateCheck:
    ok = not math.isnan(new) and new >= limit
    return GateCheck(scenario, backend, metric, base, new, limit, ok, "min", rate=rate)


class _Context:
    def __init__(self, new: RunData, base: RunData, min_attainment: float,
                 max_capacity_drop: float, p99_limits: dict[str, float]) -> None:
        self.new, self.base = new, base
        self.min_attainment = min_attainment
        self.max_capacity_drop = max_capacity_drop
        self.p99_limits = p99_limits
        self.new_caps = capacity_rows(new.summary).set_index(["scenario", "backend"])
        self.base_caps = capacity_rows(base.summary).set_index(["scenario", "backend"])
        self.new_ops = operating_points(new.summary, new.threshold).set_index(
            ["scenario", "backend"])
        self.base_ops = operating_points(base.summary, base.threshold).set_index(
            ["scenario", "backend"])

    def is_capacity_pair(self, scenario: str, backend: str) -> bool:
        key = (scenario, backend)
        return key in self.base_caps.index or key in self.new_caps.index

    def capacity_checks(self, scenario: str, backend: str) -> list[GateCheck]:
        key = (scenario, backend)
        base_row, new_row = self._row(self.base_caps, key), self._row(self.new_caps, key)
        base_cap = _value(base_row, "capacity_rps_per_gpu")
        new_cap = _value(new_row, "capacity_rps_per_gpu")
        limit = base_cap * (1 - self.max_capacity_drop) if not math.isnan(base_cap) else 0.0
        edge = _edge_note(base_row, new_row)
        if edge:
            shown = (shown_capacity(base_row) if base_row is not None else "",
                     shown_capacity(new_row) if new_row is not None else "")
            checks = [GateCheck(scenario, backend, "capacity_rps_per_gpu", base_cap, new_cap,
                                limit, False, note=edge, unbounded=True, shown=shown)]
        else:
            checks = [_min_check(scenario, backend, "capacity_rps_per_gpu", base_cap, new_cap,
                                 limit)]
        if not new_cap > 0:
            # Nothing passed at any rate: the capacity check above already says so, and
            # there is no probe "at capacity" whose attainment could be judged.
            return checks
        base_op, new_op = self._row(self.base_ops, key), self._row(self.new_ops, key)
        checks.append(_min_check(
            scenario, backend, "attainment_at_capacity", _value(base_op, "attainment"),
            _value(new_op, "attainment"), self.min_attainment, rate=_value(new_op, "rate")))
        checks += self._p99_checks(scenario, backend, base_op, new_op, math.nan)
        return checks

    def fixed_rate_checks(self, scenario: str, backend: str) -> list[GateCheck]:
        base_probes = self._probes(self.base, scenario, backend)
        new_probes = self._probes(self.new, scenario, backend)
        common = sorted(set(base_probes) & set(new_probes))
        if not common:
            return [GateCheck(scenario, backend, "common_rate", math.nan, math.nan, math.nan,
                              False, note="no rate probed by both runs")]
        checks: list[GateCheck] = []
        for rate in common:
            base_row, new_row = base_probes[rate], new_probes[rate]
            checks.append(_min_check(
                scenario, backend, "attainment", _value(base_row, "attainment"),
                _value(new_row, "attainment"), self.min_attainment, rate=rate))
            checks += self._p99_checks(scenario, backend, base_row, new_row, rate)
        return checks

    def _p99_checks(self, scenario: str, backend: str, base_row: pd.Series | None,
                    new_row: pd.Series | None, rate: float) -> list[GateCheck]:
        checks = []
        for metric, increase in self.p99_limits.items():
            base_v, new_v = _value(base_row, metric), _value(new_row, metric)
            if math.isnan(base_v):
                continue  # nothing to hold the new run to
            limit = base_v * (1 + increase)
            ok = not math.isnan(new_v) and new_v <= limit
            checks.append(GateCheck(scenario, backend, metric, base_v, new_v, limit, ok, "max",
                                    rate=rate))
        return checks

    @staticmethod
    def _row(frame: pd.DataFrame, key: tuple[str, str]) -> pd.Series | None:
        return frame.loc[key] if key in frame.index else None

    @staticmethod
    def _probes(run: RunData, scenario: str, backend: str) -> dict[float, pd.Series]:
        """Point rows by rate, rounded so that 0.1 + 0.2 and 0.3 meet."""
        points = point_rows(run.summary)
        mine = points[(points["scenario"] == scenario) & (points["backend"] == backend)]
        return {round(float(r["rate"]), 9): r for _, r in mine.iterrows()}


# What each check is called on the terminal: short enough for 80 columns.
_SHORT = {"capacity_rps_per_gpu": "capacity/GPU", "attainment_at_capacity": "attain@cap",
          "ttft_p99_s": "TTFT p99 s", "tpot_p99_s": "TPOT p99 s", "common_rate": "common rate"}


def render_gate(result: GateResult, console: Console) -> None:
    if console.width < WIDE_CONSOLE:
        _render_lines(result, console)
    else:
        table = Table(title="slobench gate")
        for name in ("scenario", "backend", "metric", "rate", "base", "new", "limit", "result"):
            table.add_column(name, overflow="fold", justify="right" if name in (
                "rate", "base", "new", "limit") else "left")
        for row in result.rows:
            verdict, cells = _cells(row)
            table.add_row(*map(escape, cells), escape(verdict + (f": {row.note}" if row.note
                                                                 else "")),
                          style=_style(row))
        console.print(table)
    regressed = len(result.failures) - len(result.unbounded)
    total = len(result.rows)
    if result.passed:
        console.print(f"[green]gate passed[/green]: {total} checks")
        return
    if regressed:
        console.print(f"[bold red]gate failed[/bold red]: {regressed} of {total} checks regressed")
    if result.unbounded:
        edge = len(result.unbounded)
        console.print(f"[bold yellow]gate not passed[/bold yellow]: {edge} "
                      f"{'capacity is' if edge == 1 else 'capacities are'} at the search's edge "
                      "(≥ X: it never failed, < X: it never passed); a bound is not a "
                      f"measurement and was not compared ({total} checks)")


WIDE_CONSOLE = 100          # narrower (an 80-column CI log): one line per check


def _cells(row: GateCheck) -> tuple[str, list[str]]:
    """The verdict and the cells scenario, backend, metric, rate, base, new, limit."""
    sign = "≥" if row.bound == "min" else "≤"
    limit = "" if math.isnan(row.limit) else f"{sign} {_num(row.limit)}"
    verdict = "ok" if row.ok else "UNBOUNDED" if row.unbounded else "REGRESSION"
    base, new = (shown or _num(value) for shown, value in zip(
        row.shown, (row.base, row.new), strict=True))
    return verdict, [row.scenario, row.backend, _SHORT.get(row.metric, row.metric),
                     _num(row.rate), base, new, limit]


def _style(row: GateCheck) -> str | None:
    return None if row.ok else "bold yellow" if row.unbounded else "bold red"


def _render_lines(result: GateResult, console: Console) -> None:
    """Verdict first, then what was compared with both values; the note below it."""
    console.print("slobench gate")
    for row in result.rows:
        verdict, (scenario, backend, metric, rate, base, new, limit) = _cells(row)
        at = f" at {rate}/s" if rate else ""
        bound = f", limit {limit}" if limit else ""
        pair = f"{scenario}/{backend}" if backend else scenario
        line = Text(f"{verdict:<10} {pair} {metric}{at}: base {base or '-'}, "
                    f"new {new or '-'}{bound}", style=_style(row) or "")
        console.print(line, overflow="fold")
        if row.note:
            console.print(Text(f"           {row.note}"), overflow="fold")


def _num(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.4g}"
