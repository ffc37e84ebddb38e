"""Columns of summary.parquet (SPEC §8).

One row per (scenario, backend, rate) probe with kind == "point", and one per
(scenario, backend) with kind == "capacity" whose `capacity_rps_per_gpu` is set.
`attainment` is per session (equal to per request where sessions have one call);
`request_attainment` counts each call on its own.
"""

SUMMARY_COLUMNS: list[str] = [
    "run_id", "scenario", "backend", "engine", "kind", "rate", "gpus",
    "num_requests", "num_sessions", "attainment", "request_attainment",
    "goodput_rps", "throughput_rps",
    "n_ok", "n_rejected", "n_best_effort", "n_error", "n_timeout",
    "ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "tpot_p50_s", "tpot_p90_s", "tpot_p99_s",
    "sched_overhead_p50_ms", "sched_overhead_p99_ms", "sched_overhead_max_ms",
    "replan_overhead_p99_ms",
    "capacity_rps", "capacity_rps_per_gpu", "gain_vs_vllm",
]

# timeline.parquet: sampled engine state for the report's timeline figure.
TIMELINE_COLUMNS: list[str] = [
    "scenario", "backend", "rate", "replica", "t_s", "queue_len", "running", "batch_tokens",
    "kv_used_frac",
]
