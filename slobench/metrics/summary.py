"""summary.parquet rows from a probe's records and a capacity search (SPEC §4, §8).

Latency populations, one column family each (`latency_column` names them):
- all calls, `ttft_p99_s` (SPEC §8's columns): every call that has the value
  (a first token for TTFT, two tokens for TPOT) whatever its status: what the
  clients saw, best-effort, timed-out and errored calls included;
- admitted calls, `admitted_ttft_p99_s`: status ok only, the calls admitted
  and served under their SLO. Best-effort calls (starved by design when the
  scheduler is saturated), rejected, errored and timed-out calls are left out.

Rates count what the arrival process emits, sessions per second (`rate`,
`*_sessions_per_s`); `*_calls_per_s` is that times the mean calls per session
(they differ only in multi-call scenarios such as tool_calling).
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np
import pandas as pd

from slobench.core.outcome import Status
from slobench.metrics.capacity import SearchResult
from slobench.metrics.records import RequestRecord

LATENCY_METRICS = ("ttft", "tpot")
PERCENTILES = (50, 90, 99)


class Population(StrEnum):
    ALL = "all"            # every call
    ADMITTED = "admitted"  # status ok: admitted and served under its SLO


ADMITTED_STATUSES = frozenset({Status.OK})


def latency_column(metric: str, q: int, population: Population) -> str:
    """`ttft_p99_s` (all calls) or `admitted_ttft_p99_s` (admitted calls)."""
    prefix = "" if population is Population.ALL else f"{population.value}_"
    return f"{prefix}{metric}_p{q}_s"


def share_column(status: Status) -> str:
    return f"share_{status.value}"


def population_mask(statuses: pd.Series, population: Population) -> pd.Series:
    """Which requests.parquet rows belong to the population (by their status)."""
    if population is Population.ALL:
        return pd.Series(True, index=statuses.index)
    return statuses.isin([s.value for s in ADMITTED_STATUSES])


def _pct(values: list[float], q: float) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.percentile(finite, q)) if finite else math.nan


def overhead_stats_ms(samples_s: list[float]) -> dict[str, float]:
    if not samples_s:
        return {"p50": math.nan, "p99": math.nan, "max": math.nan}
    ms = np.asarray(samples_s) * 1e3
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "max": float(ms.max())}


def latency_percentiles(records: list[RequestRecord]) -> dict[str, float]:
    """TTFT/TPOT p50/p90/p99 of every population, keyed by `latency_column`."""
    out: dict[str, float] = {}
    for population in Population:
        members = [r for r in records
                   if population is Population.ALL or r.status in ADMITTED_STATUSES]
        for metric in LATENCY_METRICS:
            values = [getattr(r, f"{metric}_s") for r in members]
            for q in PERCENTILES:
                out[latency_column(metric, q, population)] = _pct(values, q)
    return out


def status_counts(records: list[RequestRecord]) -> dict[str, float]:
    """n_<status> and share_<status> (of all calls) for every status."""
    counts = {s: 0 for s in Status}
    for r in records:
        counts[Status(r.status)] += 1
    n = len(records)
    out: dict[str, float] = {f"n_{s.value}": c for s, c in counts.items()}
    out |= {share_column(s): c / n if n else math.nan for s, c in counts.items()}
    return out


def rate_units(prefix: str, sessions_per_s: float, calls_per_session: float,
               gpus: int | None = None) -> dict[str, float]:
    """`<prefix>_sessions_per_s` and `<prefix>_calls_per_s` (and `_per_gpu` with gpus)."""
    out = {f"{prefix}_sessions_per_s": sessions_per_s,
           f"{prefix}_calls_per_s": sessions_per_s * calls_per_session}
    if gpus:
        out |= {f"{k}_per_gpu": v / gpus for k, v in out.items()}
    return out


def point_summary(records: list[RequestRecord], step_overheads_s: list[float],
                  replan_overheads_s: list[float]) -> dict[str, float]:
    """Attainment, goodput, percentiles and overhead of one (scenario, backend, rate) probe."""
    n = len(records)
    sessions: dict[int, bool] = {}
    for r in records:
        sessions[r.session_id] = r.session_attained
    sends = [r.scheduled_send_s for r in records]
    span = (max(sends) - min(sends)) if n > 1 else math.nan
    attained = sum(r.attained for r in records)
    completed = sum(r.status in (Status.OK, Status.BEST_EFFORT) for r in records)
    total = overhead_stats_ms(step_overheads_s + replan_overheads_s)
    calls_per_session = n / len(sessions) if sessions else math.nan
    rate = records[0].rate if records else math.nan  # every record carries its probe's rate
    return {
        "num_requests": n,
        "num_sessions": len(sessions),
        "calls_per_session": calls_per_session,
        **rate_units("rate", rate, calls_per_session),
        "attainment": sum(sessions.values()) / len(sessions) if sessions else math.nan,
        "request_attainment": attained / n if n else math.nan,
        "goodput_rps": attained / span if span and span > 0 else math.nan,
        "throughput_rps": completed / span if span and span > 0 else math.nan,
        **status_counts(records),
        **latency_percentiles(records),
        "sched_overhead_p50_ms": total["p50"], "sched_overhead_p99_ms": total["p99"],
        "sched_overhead_max_ms": total["max"],
        "replan_overhead_p99_ms": overhead_stats_ms(replan_overheads_s)["p99"],
    }


def capacity_summary(result: SearchResult, gpus: int,
                     calls_per_session: float) -> dict[str, object]:
    """The capacity row's measured columns: capacity in both units, per GPU, and its bound.

    `capacity_rps*` (SPEC §8) count sessions/s, what the search varies; they are 0
    when nothing passed. `capacity_bound_*` hold the number to show with the bound
    (`≥ X`, `< X`): the capacity itself, or for `below` the lowest rate probed.
    """
    bound = rate_units("capacity_bound", result.bound_rate, calls_per_session, gpus)
    return {
        "capacity_rps": result.capacity,
        "capacity_rps_per_gpu": result.capacity / gpus,
        **rate_units("capacity", result.capacity, calls_per_session, gpus),
        "calls_per_session": calls_per_session,
        "capacity_bound": result.bound.value, **bound,
        "attainment": max((a for r, a in result.probes if r == result.capacity),
                          default=math.nan),
        "probes": len(result.probes), "hit_max_rate": result.hit_max_rate,
    }
