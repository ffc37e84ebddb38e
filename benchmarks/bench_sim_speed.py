"""Simulated requests per wall-clock second near capacity (issue #3 target: >= 5,000/s).

    .venv/bin/python benchmarks/bench_sim_speed.py [--requests 2000]

Rates are the scenario's capacity on the default setting (OPT-13B, 4xA100, TP 2)
as found by `slobench run`, passed with --rates; prints one line per
(scenario, backend).
"""

from __future__ import annotations

import argparse
import time

from slobench.perf.factory import build_perf_model, kv_capacity_tokens
from slobench.runner.requests import RequestFactory, tpot_tiers
from slobench.runner.sim_probe import SimSetup, run_sim_probe
from slobench.workloads.generate import generate
from slobench.workloads.scenario import load_scenario

GiB = 1 << 30


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rates", default="chatbot=24,coding=1.5")
    args = ap.parse_args()
    perf = build_perf_model("opt-13b", "a100", 2)
    setup = SimSetup(perf, 2, kv_capacity_tokens("opt-13b", "a100", 2), 80 * GiB, "a100")
    for item in args.rates.split(","):
        name, rate = item.split("=")
        workload = generate(load_scenario(name), args.requests, 0, 16384)
        tiers = tpot_tiers(workload, 1.0)
        for backend in ("vllm", "slos"):
            w = workload.at_rate(float(rate))
            t0 = time.process_time()
            res = run_sim_probe(setup, backend, w, RequestFactory(perf, 1.0), tiers)
            cpu = time.process_time() - t0
            n = len(res.outcomes)
            print(f"{name:8s} {backend:5s} rate {float(rate):6.2f}/s  {n:6d} requests "
                  f"in {cpu:6.3f} s CPU  ->  {n / cpu:8.0f} simulated requests/s")


if __name__ == "__main__":
    main()
