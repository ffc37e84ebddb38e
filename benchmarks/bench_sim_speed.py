"""Simulator speed, this tree against a baseline commit (issue 16), in one run.

    .venv/bin/python benchmarks/bench_sim_speed.py --baseline-commit REV [--requests 2000]
        [--rates chatbot=24,coding=1.5,reasoning=1.4] [--no-study] [--answers-commit REV2]

Per (scenario, backend): simulated requests per CPU-second of one probe near capacity
(the default setting: OPT-13B, 4xA100, TP 2). Then the six-scenario study
(`slobench run --scenario all --no-report`, default sim engine, serial) timed as a whole process,
and whether both trees found the same capacities and attainments (to 1e-9); when the
baseline's answers legitimately differ (the model changed since), `--answers-commit`
names the tree to hold the answers to (its study runs too, untimed). The
baseline runs from a temporary `git worktree` of REV; each measurement runs in its own
process with that tree first on the import path. Prints figures; judges nothing.
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

REPO = Path(__file__).resolve().parents[1]
GiB = 1 << 30
BACKENDS = ("vllm", "slos")


def measure_probes(requests: int, rates: str) -> list[dict]:
    """In this process (whichever tree is on the path): CPU time of one probe each."""
    RequestFactory, tpot_tiers, SimSetup, run_sim_probe = _probe_api()
    from slobench.perf.factory import build_perf_model, kv_capacity_tokens
    from slobench.workloads.generate import generate
    from slobench.workloads.scenario import load_scenario

    perf = build_perf_model("opt-13b", "a100", 2)
    setup = SimSetup(perf, 2, kv_capacity_tokens("opt-13b", "a100", 2), 80 * GiB, "a100")
    rows = []
    for item in rates.split(","):
        name, rate = item.split("=")
        workload = generate(load_scenario(name), requests, 0, 16384)
        tiers = tpot_tiers(workload, 1.0)
        for backend in BACKENDS:
            w = workload.at_rate(float(rate))
            t0 = time.process_time()
            res = run_sim_probe(setup, backend, w, RequestFactory(perf, 1.0), tiers)
            cpu = time.process_time() - t0
            rows.append({"scenario": name, "backend": backend, "rate": float(rate),
                         "requests": len(res.outcomes), "cpu_s": cpu})
    return rows


def _probe_api() -> tuple:
    """The probe entry points of whichever layout this tree has: `engines/` today,
    `runner/` + `sim/` before the move (the issue's baseline, 4f160e7)."""
    import importlib.util

    if importlib.util.find_spec("slobench.engines.sim") is not None:
        from slobench.engines.requests import RequestFactory, tpot_tiers
        from slobench.engines.sim.engine import SimSetup, run_sim_probe
    else:
        from slobench.runner.requests import RequestFactory, tpot_tiers  # type: ignore
        from slobench.runner.sim_probe import SimSetup, run_sim_probe  # type: ignore
    return RequestFactory, tpot_tiers, SimSetup, run_sim_probe


def _child(tree: Path, args: list[str]) -> tuple[str, float, float]:
    """Run this script (or slobench) under `tree`; (stdout, wall s, CPU s of the child)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, *args], cwd=tree, env=env, check=True,
                         capture_output=True, text=True).stdout
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out, wall, cpu


def probes_in(tree: Path, requests: int, rates: str) -> list[dict]:
    out, _, _ = _child(tree, [str(Path(__file__).resolve()), "--measure",
                              "--requests", str(requests), "--rates", rates])
    return json.loads(out.strip().splitlines()[-1])


def study_in(tree: Path, out_dir: Path) -> tuple[float, float]:
    code = ("import sys; sys.argv[0] = 'slobench'; from slobench.cli.app import main; "
            "sys.exit(main())")
    _, wall, cpu = _child(tree, ["-c", code, "run", "--scenario", "all", "--no-report",
                                 "--out", str(out_dir)])
    return wall, cpu


def same_answers(old: Path, new: Path) -> str:
    """Capacities and per-probe attainments of two studies, compared to 1e-9 (the columns
    both have: an old tree may predate one)."""
    import numpy as np
    import pandas as pd

    a, b = pd.read_parquet(old / "summary.parquet"), pd.read_parquet(new / "summary.parquet")
    if len(a) != len(b):
        return f"different number of summary rows ({len(a)} vs {len(b)})"
    wanted = ["capacity_sessions_per_s", "attainment", "request_attainment", "rate"]
    cols = [c for c in wanted if c in a and c in b]
    missing = "" if len(cols) == len(wanted) else " (not in both: " + ", ".join(
        c for c in wanted if c not in cols) + ")"
    diff = [c for c in cols if not np.allclose(a[c], b[c], rtol=0, atol=1e-9, equal_nan=True)]
    return ("identical (1e-9)" if not diff else "DIFFERENT: " + ", ".join(diff)) + missing


def _worktree(rev: str, at: Path) -> Path:
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(at), rev],
                   check=True, capture_output=True)
    return at


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rates", default="chatbot=24,coding=1.5,reasoning=1.4")
    ap.add_argument("--baseline-commit", default="HEAD~1")
    ap.add_argument("--answers-commit", default=None,
                    help="the tree whose study answers must match (default: the baseline); "
                         "its study is run, untimed, when it is another commit")
    ap.add_argument("--no-study", action="store_true", help="skip the six-scenario study")
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure_probes(args.requests, args.rates)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        trees = [_worktree(args.baseline_commit, Path(tmp) / "baseline")]
        try:
            _report(args, trees, Path(tmp))
        finally:
            for tree in trees:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                                str(tree)], check=False, capture_output=True)


def _report(args: argparse.Namespace, trees: list[Path], tmp: Path) -> None:
    base = trees[0]
    old = probes_in(base, args.requests, args.rates)
    new = probes_in(REPO, args.requests, args.rates)
    print(f"simulated requests per CPU-second (one core), {args.requests} sessions "
          f"a probe; baseline {args.baseline_commit}")
    for o, n in zip(old, new, strict=True):
        ro, rn = o["requests"] / o["cpu_s"], n["requests"] / n["cpu_s"]
        print(f"  {o['scenario']:10s} {o['backend']:5s} at {o['rate']:5.2f}/s: "
              f"{ro:8.0f} -> {rn:8.0f}  ({rn / ro:5.2f}x)")
    if args.no_study:
        return
    wo, co = study_in(base, tmp / "study-old")
    wn, cn = study_in(REPO, tmp / "study-new")
    print(f"six-scenario study (slobench run --scenario all --no-report): wall {wo:6.1f} s "
          f"-> {wn:6.1f} s ({wo / wn:4.2f}x), CPU {co:6.1f} s -> {cn:6.1f} s "
          f"({co / cn:4.2f}x)")
    print(f"  capacities and attainments vs {args.baseline_commit}: "
          + same_answers(tmp / "study-old", tmp / "study-new"))
    if args.answers_commit and args.answers_commit != args.baseline_commit:
        trees.append(_worktree(args.answers_commit, tmp / "answers"))
        study_in(trees[-1], tmp / "study-answers")
        print(f"  capacities and attainments vs {args.answers_commit}: "
              + same_answers(tmp / "study-answers", tmp / "study-new"))


if __name__ == "__main__":
    main()
