"""Columns of summary.parquet (SPEC §8).

One row per (scenario, backend, rate) probe with kind == "point", and one per
(scenario, backend) with kind == "capacity" whose `capacity_rps_per_gpu` is set.
`attainment` is per session (equal to per request where sessions have one call);
`request_attainment` counts each call on its own.

Units (slobench.metrics.summary has the rules):
- `rate` and every `*_rps` capacity count sessions per second: what the arrival
  process emits and the capacity search varies. `*_sessions_per_s` say so in the
  name, `*_calls_per_s` multiply by `calls_per_session` (the workload's mean);
  they differ in multi-call scenarios (tool_calling). `goodput_rps` and
  `throughput_rps` count calls per second.
- `ttft_p*_s` / `tpot_p*_s` are over all calls; `admitted_*` over admitted
  calls only (status ok). `share_<status>` is the status's share of the calls.
- `capacity_bound`: `measured`, `at_least` (the search never failed: the
  capacity is ≥ the highest rate it probed) or `below` (it never passed: the
  capacity, recorded as 0, is < the lowest rate it probed). `capacity_bound_*`
  hold the number shown with the bound: `≥ X`, `< X`, or the capacity itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slobench.core.outcome import Status
from slobench.metrics.summary import (
    LATENCY_METRICS,
    PERCENTILES,
    Population,
    latency_column,
    share_column,
)

LATENCY_COLUMNS: list[str] = [latency_column(m, q, p) for p in Population
                              for m in LATENCY_METRICS for q in PERCENTILES]

SUMMARY_COLUMNS: list[str] = [
    "run_id", "scenario", "backend", "engine", "kind", "rate", "gpus",
    "rate_sessions_per_s", "rate_calls_per_s", "calls_per_session",
    "num_requests", "num_sessions", "attainment", "request_attainment",
    "goodput_rps", "throughput_rps",
    *(f"n_{s.value}" for s in Status), *(share_column(s) for s in Status),
    *LATENCY_COLUMNS,
    "sched_overhead_p50_ms", "sched_overhead_p99_ms", "sched_overhead_max_ms",
    "replan_overhead_p99_ms",
    "capacity_rps", "capacity_rps_per_gpu", "gain_vs_vllm",
    "capacity_sessions_per_s", "capacity_calls_per_s",
    "capacity_sessions_per_s_per_gpu", "capacity_calls_per_s_per_gpu", "capacity_bound",
    "capacity_bound_sessions_per_s", "capacity_bound_calls_per_s",
    "capacity_bound_sessions_per_s_per_gpu", "capacity_bound_calls_per_s_per_gpu",
]

# timeline.parquet: sampled engine state for the report's timeline figure.
TIMELINE_COLUMNS: list[str] = [
    "scenario", "backend", "rate", "replica", "t_s", "queue_len", "running", "batch_tokens",
    "kv_used_frac",
]


@dataclass
class SummaryRow:
    """One row of summary.parquet: which probe (kind "point") or search (kind
    "capacity") it is, and its figures (the other SUMMARY_COLUMNS, and extra columns such
    as a real engine's health)."""

    run_id: str
    scenario: str
    backend: str
    engine: str
    kind: str                        # "point" or "capacity"
    rate: float                      # the probe's rate, or the capacity found
    gpus: int
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def is_capacity(self) -> bool:
        return self.kind == "capacity"

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "scenario": self.scenario, "backend": self.backend,
                "engine": self.engine, "kind": self.kind, "rate": self.rate,
                "gpus": self.gpus, **self.figures}
