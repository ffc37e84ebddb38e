"""Capacity of SLOs-Serve vs stock vLLM on the real engine (vLLM's CPU build, tiny model).

For each replica count, one `slobench run --engine vllm --backends vllm,slos` campaign:
the engine is calibrated once (SPEC §5; both backends share that calibration), every
scenario's capacity is searched on stock vLLM replicas, then on the same replicas
restarted with the SLOs-Serve scheduler plugin (behind the router from two replicas on;
one replica is called straight, `slobench run --router`). Prints per-scenario
capacities (requests/s per replica), gains and the geometric mean, and writes the
table to OUT/table.md; each campaign's full output (parquet, report, server logs) stays
in OUT/replicas-<n>/.

    .venv/bin/python benchmarks/bench_real_capacity.py --replicas 1,2 \\
        --scenarios coding,chatbot,summarization --requests 30 --slo-scale 1

`--slo-scale` is the calibration's TPOT scale (SPEC §5). Left out, slobench scales the
paper's TPOTs by (this engine's decode step / the paper's): on this CPU that is ~0.14,
a ~7 ms TPOT for coding, which the tiny model misses in any step carrying a prefill
chunk (a CPU prefills ~30x slower per decode step than a GPU), so both backends' capacity
collapses to "no overlap at all". With 1 the paper's milliseconds stand; TTFT SLOs are
calibrated slowdowns of the measured zero-load prefill either way.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd


def run_campaign(replicas: int, args: argparse.Namespace, out: Path) -> pd.DataFrame:
    cmd = [sys.executable, "-m", "slobench", "run", "--engine", "vllm", "--model", "tiny",
           "--backends", "vllm,slos", "--scenario", args.scenarios,
           "--replicas", str(replicas), "--requests", str(args.requests),
           "--tolerance", str(args.tolerance), "--min-rate", str(args.min_rate),
           "--seed", str(args.seed), "--min-probe-s", str(args.min_probe_s),
           "--out", str(out), "--force", *(["--twin"] if args.twin else [])]
    if args.slo_scale is not None:
        cmd += ["--slo-scale", str(args.slo_scale)]
    summary = out / "summary.parquet"
    if args.reuse and summary.exists():
        print(f"reusing {summary}", flush=True)
    else:
        print("$ " + " ".join(cmd), flush=True)
        started = time.perf_counter()
        rc = subprocess.call(cmd)
        print(f"replicas={replicas}: exit {rc} after {time.perf_counter() - started:.0f} s",
              flush=True)
        if rc != 0 and not summary.exists():
            raise SystemExit(rc)
    return pd.read_parquet(summary)


def table(frames: dict[int, pd.DataFrame]) -> tuple[pd.DataFrame, float]:
    rows = []
    for replicas, df in frames.items():
        cap = df[df["kind"] == "capacity"]
        points = df[df["kind"] == "point"]
        for scenario, g in cap.groupby("scenario"):
            by = {b: float(r["capacity_rps"]) / replicas
                  for b, r in g.set_index("backend").iterrows()}
            bounds = {b: str(r.get("capacity_bound", "measured"))
                      for b, r in g.set_index("backend").iterrows()}
            v, s = by.get("vllm", math.nan), by.get("slos", math.nan)
            mine = points[points["scenario"] == scenario]
            reruns = int(mine["stall_reruns"].sum()) if "stall_reruns" in mine else 0
            rows.append({"replicas": replicas, "scenario": scenario,
                         "vllm_per_replica": v, "vllm_bound": bounds.get("vllm", ""),
                         "slos_per_replica": s, "slos_bound": bounds.get("slos", ""),
                         "gain": s / v if v > 0 else math.nan,
                         "probes": len(mine), "stall_reruns": reruns})
    t = pd.DataFrame(rows)
    gains = [g for g in t["gain"] if g > 0 and math.isfinite(g)] if len(t) else []
    geo = math.exp(sum(map(math.log, gains)) / len(gains)) if gains else math.nan
    return t, geo


def _fidelity_lines(run_dir: Path, replicas: int) -> list[str]:
    """The twin's capacities and the audit's false rejects, when the run wrote them."""
    lines = []
    fid_path, audit_path = run_dir / "fidelity.parquet", run_dir / "audit.parquet"
    if fid_path.exists():
        fid = pd.read_parquet(fid_path)
        caps = fid[fid["kind"] == "capacity"]
        lines += ["", f"replicas={replicas}: capacity real vs twin (sessions/s)",
                  caps[["scenario", "backend", "capacity_real", "capacity_twin",
                        "capacity_rel_gap", "agrees"]].to_string(index=False)]
    if audit_path.exists():
        audit = pd.read_parquet(audit_path)
        real = audit[audit["source"] == "real"]
        lines += ["", f"replicas={replicas}: admission audit (real run)",
                  real[["scenario", "rate", "calls", "turned_away", "false_rejects",
                        "false_reject_share", "reasons"]].to_string(index=False)]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicas", default="1,2")
    ap.add_argument("--scenarios", default="coding,chatbot,summarization")
    ap.add_argument("--requests", type=int, default=30, help="sessions per probe")
    ap.add_argument("--tolerance", type=float, default=0.25, help="capacity search tolerance")
    ap.add_argument("--min-rate", type=float, default=0.25,
                    help="lowest rate probed (a probe takes requests / rate seconds)")
    ap.add_argument("--slo-scale", type=float, default=1.0,
                    help="TPOT scale (SPEC §5); pass a negative value for slobench's "
                         "decode-step rule")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("results/bench-real-capacity"))
    ap.add_argument("--reuse", action="store_true", help="reuse finished campaigns in OUT")
    ap.add_argument("--min-probe-s", type=float, default=20.0,
                    help="each probe lasts at least this long (more sessions at high rates)")
    ap.add_argument("--twin", action=argparse.BooleanOptionalAction, default=True,
                    help="replay each campaign on the simulator (fidelity + audit tables)")
    args = ap.parse_args()
    if args.slo_scale is not None and args.slo_scale < 0:
        args.slo_scale = None
    frames = {}
    for r in (int(x) for x in args.replicas.split(",")):
        frames[r] = run_campaign(r, args, args.out / f"replicas-{r}")
    t, geo = table(frames)
    text = t.to_string(index=False, float_format=lambda x: f"{x:.3f}")
    used = int(sum(1 for g in t["gain"] if g > 0 and math.isfinite(g)))
    lines = [text, "", f"geometric-mean gain (slos / vllm): {geo:.2f}x over {used} "
             "(scenario, replicas) pairs with both capacities > 0"]
    for r, g in t.groupby("replicas"):
        gains = [x for x in g["gain"] if x > 0 and math.isfinite(x)]
        if gains:
            lines.append(f"  replicas={r}: "
                         f"{math.exp(sum(map(math.log, gains)) / len(gains)):.2f}x")
    for r in frames:
        lines += _fidelity_lines(args.out / f"replicas-{r}", r)
    out = "\n".join(lines)
    print(out)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(out + "\n")


if __name__ == "__main__":
    main()
