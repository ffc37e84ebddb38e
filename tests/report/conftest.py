"""Synthetic results folders (requests/summary/timeline parquet + run.json) for report tests."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slobench.metrics.records import REQUEST_COLUMNS
from slobench.metrics.summary_schema import SUMMARY_COLUMNS, TIMELINE_COLUMNS

GAIN = {"vllm": 1.0, "sarathi": 1.3, "slos": 2.0}
RATE_STEPS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.6)  # multiples of the capacity that get probed


def attainment_curve(rate: float, capacity: float) -> float:
    """Smooth, decreasing; 0.92 at capacity and well under 0.9 one step above it."""
    return float(max(0.0, 1 - 0.08 * (rate / capacity) ** 8))


def _requests(rng: np.random.Generator, n: int, load: float) -> pd.DataFrame:
    ttft_slo = rng.choice([0.5, 1.0, 2.0], n)
    tpot_slo = rng.choice([0.05, 0.1], n)
    ttft = ttft_slo * np.exp(rng.normal(math.log(0.4 * load**2), 0.5, n))
    tpot = tpot_slo * np.exp(rng.normal(math.log(0.6 * load), 0.3, n))
    rejected = rng.random(n) < 0.05 * load
    ttft[rejected] = np.nan
    tpot[rejected] = np.nan
    send = np.sort(rng.uniform(0, 60, n))
    return pd.DataFrame({
        "scheduled_send_s": send, "actual_send_s": send + 0.001, "ttft_s": ttft, "tpot_s": tpot,
        "ttft_slo_s": ttft_slo, "tpot_slo_s": tpot_slo,
        "status": np.where(rejected, "rejected", "ok"),
        "attained": ~rejected & (ttft <= ttft_slo * 1.05) & (tpot <= tpot_slo * 1.05),
        "prompt_tokens": rng.integers(50, 2000, n), "output_tokens": rng.integers(2, 400, n),
    })


def _timeline(rng: np.random.Generator, load: float) -> pd.DataFrame:
    frames = []
    for replica in (0, 1):
        t = np.arange(0, 60, 0.5) + 0.13 * replica  # replicas sample at their own instants
        frames.append(pd.DataFrame({
            "replica": replica, "t_s": t, "queue_len": rng.poisson(3 * load**3, len(t)),
            "running": rng.poisson(20 * load, len(t)),
            "batch_tokens": rng.poisson(2000 * load, len(t)),
            "kv_used_frac": np.clip(0.5 * load + rng.normal(0, 0.05, len(t)), 0, 1),
        }))
    return pd.concat(frames, ignore_index=True)


def write_run(folder: Path, *, scenarios: Sequence[str] = ("chatbot", "coding"),
              backends: Sequence[str] = ("vllm", "slos"),
              capacity: dict[tuple[str, str], float] | None = None, fixed_rate: bool = False,
              gpus: int = 2, requests_per_probe: int = 150, with_timeline: bool = True,
              seed: int = 0) -> Path:
    """Write a run folder; `capacity` overrides the total capacity (req/s) of some pairs."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    summary, requests, timeline = [], [], []
    for s_index, scenario in enumerate(scenarios):
        for backend in backends:
            cap = (capacity or {}).get((scenario, backend),
                                       2.0 * (1 + 0.5 * s_index) * GAIN.get(backend, 1.0))
            base_cap = 2.0 * (1 + 0.5 * s_index)  # fixed-rate runs probe the same rates
            rates = [base_cap * k for k in RATE_STEPS] if fixed_rate else [
                cap * k for k in RATE_STEPS]
            labels = {"run_id": folder.name, "scenario": scenario, "backend": backend,
                      "engine": "sim"}
            for rate in rates:
                load = rate / cap
                reqs = _requests(rng, requests_per_probe, load).assign(**labels, rate=rate)
                requests.append(reqs)
                if with_timeline:
                    timeline.append(_timeline(rng, load).assign(**labels, rate=rate))
                overhead = 0.05 if backend == "vllm" else 0.4
                summary.append(labels | {
                    "kind": "point", "rate": rate, "gpus": gpus,
                    "num_requests": len(reqs), "attainment": attainment_curve(rate, cap),
                    "ttft_p50_s": reqs["ttft_s"].quantile(0.5),
                    "ttft_p99_s": reqs["ttft_s"].quantile(0.99),
                    "tpot_p50_s": reqs["tpot_s"].quantile(0.5),
                    "tpot_p99_s": reqs["tpot_s"].quantile(0.99),
                    "sched_overhead_p50_ms": overhead * load,
                    "sched_overhead_p99_ms": 4 * overhead * load,
                })
            if not fixed_rate:
                summary.append(labels | {"kind": "capacity", "gpus": gpus,
                                         "rate": math.nan, "capacity_rps": cap,
                                         "capacity_rps_per_gpu": cap / gpus})
    summary_frame = pd.DataFrame(summary).reindex(columns=SUMMARY_COLUMNS)
    summary_frame.to_parquet(folder / "summary.parquet")
    pd.concat(requests, ignore_index=True).reindex(columns=REQUEST_COLUMNS).astype(
        {"attained": bool}).to_parquet(folder / "requests.parquet")
    if with_timeline:
        pd.concat(timeline, ignore_index=True).reindex(columns=TIMELINE_COLUMNS).to_parquet(
            folder / "timeline.parquet")
    meta = {"command": ["slobench", "run", "--scenario", *scenarios], "run_id": folder.name,
            "versions": {"slobench": "0.1.0"}, "seeds": {"workload": seed},
            "hardware": {"gpu": "H100-80GB", "gpus": gpus}, "settings": {"threshold": 0.9}}
    (folder / "run.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str = "run", **kwargs: object) -> Path:
        return write_run(tmp_path / name, **kwargs)  # type: ignore[arg-type]

    return make
