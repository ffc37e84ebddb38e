"""SLOs-Serve scheduling overhead at 256 running + 64 waiting requests, 2 TPOT tiers
(issue #5 targets on this machine: p99 <= 5 ms per re-plan, <= 0.2 ms per step decision).

    .venv/bin/python benchmarks/bench_sched_overhead.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np

from slobench.core.request import SchedRequest
from slobench.perf.factory import build_perf_model
from slobench.sched.interface import SchedContext
from slobench.sched.kv_blocks import BlockPool
from slobench.sched.slos.policy import SlosConfig, SlosPolicy

TIERS = (0.05, 0.1)


def make_request(rid: int, now: float, rng: random.Random, decoding: bool) -> SchedRequest:
    prompt = rng.randint(100, 3000)
    tpot = rng.choice(TIERS)
    req = SchedRequest(rid=rid, arrival_s=now - (1.0 if decoding else rng.random() * 0.05),
                       prompt_tokens=prompt, output_tokens=400, expected_output=400,
                       ttft_slo_s=3.0 * (7.2e-5 * prompt + 0.0317),
                       phase_tpots=((1, tpot),))
    if decoding:
        req.generated = rng.randint(1, 300)
        req.num_computed = prompt + req.generated - 1
        req.first_token_s = req.arrival_s + 0.3
        req.token_times = [req.first_token_s]
    return req


def one_round(seed: int) -> tuple[float, float]:
    rng = random.Random(seed)
    perf = build_perf_model("opt-13b", "a100", 2)
    kv = BlockPool(1_000_000)
    policy = SlosPolicy(SchedContext(perf, kv, TIERS, {"slos": SlosConfig()}))
    now = 100.0
    for i in range(256):
        r = make_request(i, now, rng, decoding=True)
        kv.allocate(r, 0)
        r.num_computed = 0
        kv.allocate(r, r.prompt_tokens + r.generated - 1)
        r.num_computed = r.prompt_tokens + r.generated - 1
        policy.admitted.append(r)
    for i in range(64):
        policy.add_request(make_request(1000 + i, now, rng, decoding=False), now, True)
    t0 = time.perf_counter()
    plan = policy.schedule(now)  # re-plans: 64 new > 10 arrivals
    replan = time.perf_counter() - t0
    assert plan.replanned
    t0 = time.perf_counter()
    plan = policy.schedule(now + 0.001)  # a plain step decision
    step = time.perf_counter() - t0
    assert not plan.replanned
    return replan, step


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    replans, steps = zip(*(one_round(s) for s in range(args.rounds)), strict=True)
    for name, xs in (("re-plan (DP admission + step)", replans), ("step decision", steps)):
        ms = np.asarray(xs) * 1e3
        print(f"{name:32s} p50 {np.percentile(ms, 50):7.3f} ms  p99 {np.percentile(ms, 99):7.3f} ms"
              f"  max {ms.max():7.3f} ms  ({len(ms)} rounds)")


if __name__ == "__main__":
    main()
