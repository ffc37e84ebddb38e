"""Serial vs `--workers N` on a whole simulated study (issue 15 target: <= 0.6x serial).

    .venv/bin/python benchmarks/bench_parallel_probes.py [--requests 1000] [--workers 2]

Runs `slobench run --scenario all --engine sim` twice, one after the other, as the user
would (a fresh process each, `--no-report`): serially, then with `--workers N`. Prints
both wall times, their ratio, the probes the workers computed against those the
searches used (the rest were speculative and thrown away), and whether the two
summary.parquet files hold the same capacities and attainments (they must).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

COMPARED = ["scenario", "backend", "kind", "rate", "attainment", "capacity_rps",
            "capacity_rps_per_gpu", "capacity_bound", "gain_vs_vllm"]


def _cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def _run(out: Path, requests: int, extra: list[str]) -> tuple[float, float]:
    """(wall s, CPU s of the run and its workers)."""
    cmd = [sys.executable, "-m", "slobench", "run", "--scenario", "all", "--engine", "sim",
           "--requests", str(requests), "--no-report", "--out", str(out), *extra]
    start, cpu = time.perf_counter(), _cpu_s()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, _cpu_s() - cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000, help="sessions per probe")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        serial_s, serial_cpu = _run(Path(tmp) / "serial", args.requests, [])
        parallel_s, parallel_cpu = _run(Path(tmp) / "parallel", args.requests,
                                        ["--workers", str(args.workers)])
        frames = [pd.read_parquet(Path(tmp) / n / "summary.parquet")[COMPARED]
                  for n in ("serial", "parallel")]
        same = frames[0].equals(frames[1])
        probes = json.loads((Path(tmp) / "parallel" / "run.json").read_text())["executor"]
    caps = frames[0][frames[0]["kind"] == "capacity"]
    print(f"scenario all, engine sim, --requests {args.requests}: "
          f"{len(caps)} searches, {(frames[0]['kind'] == 'point').sum()} probes")
    print(f"{os.cpu_count()} CPUs; load average {load:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after (other work on the machine slows both runs)")
    print(f"serial          {serial_s:7.1f} s wall  {serial_cpu:7.1f} s CPU")
    print(f"--workers {args.workers:<5d} {parallel_s:7.1f} s wall  {parallel_cpu:7.1f} s CPU   "
          f"({parallel_s / serial_s:.2f}x serial; target <= 0.60x)")
    print(f"probes computed by the workers {probes['probes']['computed']}, used "
          f"{probes['probes']['used']}, run in the driver {probes['probes']['here']}")
    print(f"capacities and attainments identical: {same}")


if __name__ == "__main__":
    main()
