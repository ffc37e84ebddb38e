"""One summary.parquet point row from a probe's records (SPEC §4, §8)."""

from __future__ import annotations

import math

import numpy as np

from slobench.records.record import RequestRecord, Status


def _pct(values: list[float], q: float) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.percentile(finite, q)) if finite else math.nan


def overhead_stats_ms(samples_s: list[float]) -> dict[str, float]:
    if not samples_s:
        return {"p50": math.nan, "p99": math.nan, "max": math.nan}
    ms = np.asarray(samples_s) * 1e3
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "max": float(ms.max())}


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
    counts = {s: 0 for s in Status}
    for r in records:
        counts[Status(r.status)] += 1
    all_overheads = step_overheads_s + replan_overheads_s
    total = overhead_stats_ms(all_overheads)
    ttfts = [r.ttft_s for r in records]
    tpots = [r.tpot_s for r in records]
    return {
        "num_requests": n,
        "num_sessions": len(sessions),
        "attainment": sum(sessions.values()) / len(sessions) if sessions else math.nan,
        "request_attainment": attained / n if n else math.nan,
        "goodput_rps": attained / span if span and span > 0 else math.nan,
        "throughput_rps": completed / span if span and span > 0 else math.nan,
        "n_ok": counts[Status.OK], "n_rejected": counts[Status.REJECTED],
        "n_best_effort": counts[Status.BEST_EFFORT], "n_error": counts[Status.ERROR],
        "n_timeout": counts[Status.TIMEOUT],
        "ttft_p50_s": _pct(ttfts, 50), "ttft_p90_s": _pct(ttfts, 90), "ttft_p99_s": _pct(ttfts, 99),
        "tpot_p50_s": _pct(tpots, 50), "tpot_p90_s": _pct(tpots, 90), "tpot_p99_s": _pct(tpots, 99),
        "sched_overhead_p50_ms": total["p50"], "sched_overhead_p99_ms": total["p99"],
        "sched_overhead_max_ms": total["max"],
        "replan_overhead_p99_ms": overhead_stats_ms(replan_overheads_s)["p99"],
    }
