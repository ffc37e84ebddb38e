"""Reading what the replicas logged (`slobench.engines.vllm.plugin.steplog`), engine-side.

Times in the files are the engine's CLOCK_MONOTONIC; replicas run on this host, so a
probe's window on `time.monotonic()` selects its rows.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slobench.engines.vllm.plugin.steplog import STEP_COLUMNS
from slobench.perf.feedback import MAX_INFLATION
from slobench.perf.plan_timeline import PlanState, PlanTimeline
from slobench.perf.stalls import is_host_stall
from slobench.perf.step_profile import logged_design_matrix, solve_nonnegative, usable_steps

MIN_FIT_STEPS = 8           # fewer steps in a probe: no cost fitted, no stall found


def read_steps(folder: Path, start: float = float("-inf"),
               end: float = float("inf")) -> pd.DataFrame:
    """Every replica's step rows in [start, end], with a `replica` column."""
    frames = []
    for path in sorted(folder.glob("replica-*.steps.csv")):
        try:
            frame = pd.read_csv(path, comment=None, on_bad_lines="skip")
        except (OSError, ValueError, pd.errors.EmptyDataError):
            continue
        frame = frame[[c for c in STEP_COLUMNS if c in frame.columns]]
        frame = frame.apply(pd.to_numeric, errors="coerce").dropna(subset=["t"])
        if frame.empty:
            continue   # a replica that logged no step (calibration runs on one): its
            # columns are untyped, and one such frame in the concat makes all of them so
        frame["replica"] = int(path.name.split("-")[1].split(".")[0])
        frames.append(frame[(frame["t"] >= start) & (frame["t"] <= end)])
    if not frames:
        return pd.DataFrame(columns=[*STEP_COLUMNS, "replica"])
    return pd.concat(frames, ignore_index=True)


def read_overheads(folder: Path, start: float, end: float) -> tuple[list[float], list[float]]:
    """Wall seconds of the schedulers' schedule() calls in [start, end]: (calls without a
    re-plan, calls with one)."""
    return step_overheads(read_steps(folder, start, end))


def step_overheads(steps: pd.DataFrame) -> tuple[list[float], list[float]]:
    """`read_overheads` of steps already read."""
    replanned = steps["replanned"] == 1
    return (steps.loc[~replanned, "sched_wall_s"].tolist(),
            steps.loc[replanned, "sched_wall_s"].tolist())


def longest_host_stall(steps: pd.DataFrame) -> float:
    """How far the worst host stall among these steps (`read_steps`) ran past its cost
    (seconds; 0: none), the cost fitted on those same steps (a profile with attention
    pairs: a calibration's model, which has none, takes stock vLLM's long prompts' later
    2,048-token chunks for stalls). The rule is the online step model's (`perf.stalls`),
    the same for every backend's replicas."""
    steps = usable_steps(steps) if len(steps) else steps    # (an empty frame is untyped)
    if len(steps) < MIN_FIT_STEPS:
        return 0.0
    x, measured = logged_design_matrix(steps), steps["step_s"].to_numpy(dtype=float)
    cost = np.maximum(x @ solve_nonnegative(x, measured), 1e-6)
    stalled = is_host_stall(measured, cost, MAX_INFLATION)
    return float((measured - cost)[stalled].max()) if stalled.any() else 0.0


def read_verdicts(folder: Path, start: float, end: float) -> dict[str, str]:
    """call key ("session:index") -> why the core rejected it or made it best-effort, for
    verdicts in [start, end] (the last replica's word wins: a call offered to several
    replicas ends where its last offer did)."""
    out: dict[str, tuple[float, str]] = {}
    for row in _request_events(folder, '"why"'):
        t, call = float(row.get("t", 0.0)), row.get("call")
        if call and start <= t <= end and (call not in out or out[call][0] <= t):
            out[str(call)] = (t, str(row.get("why") or ""))
    return {k: why for k, (_, why) in out.items()}


def read_engine_info(folder: Path) -> dict[str, Any] | None:
    """What replica 0 reported at start (vLLM's limits, KV blocks, version), or None."""
    for path in sorted(folder.glob("replica-*.engine.json")):
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return None


def read_plan_inflations(folder: Path) -> dict[str, float] | None:
    """The median of each inflation the replicas' online step models logged at their
    refits (`perf_model` events: prefill, decode, one_step, central), or None without
    any; a run that logged no central one (before it was logged) plans it at 1."""
    seen: dict[str, list[float]] = {"prefill": [], "decode": [], "one_step": [],
                                    "central": []}
    keys = {"inflation": "prefill", "inflation_decode": "decode", "inflation_one": "one_step",
            "inflation_central": "central"}
    for row in _request_events(folder, '"perf_model"'):
        for key, name in keys.items():
            if isinstance(row.get(key), int | float):
                seen[name].append(float(row[key]))
    if not seen["prefill"]:
        return None
    if not seen["central"]:
        seen["central"] = [1.0]
    return {k: float(np.median(v)) if v else float(np.median(seen["prefill"]))
            for k, v in seen.items()}


def read_plan_timelines(folder: Path) -> dict[int, PlanTimeline]:
    """Per replica, the states its online step model logged as they changed
    (`perf_model` events: coefficients and inflations), on the core clock; a row that
    does not make a state (a torn or older log) is skipped."""
    seen: dict[int, list[tuple[float, PlanState]]] = {}
    for replica, row in _replica_events(folder, '"perf_model"'):
        try:
            state = PlanState(tuple(float(c) for c in row["coef"]), float(row["inflation"]),
                              float(row["inflation_decode"]), float(row["inflation_one"]),
                              float(row.get("inflation_central", 1.0)))
        except (KeyError, TypeError, ValueError):
            continue
        seen.setdefault(replica, []).append((float(row.get("t", 0.0)), state))
    out = {}
    for replica, rows in seen.items():
        rows.sort(key=lambda r: r[0])
        out[replica] = PlanTimeline(tuple(t for t, _ in rows), tuple(s for _, s in rows))
    return out


def _request_events(folder: Path, marker: str) -> Iterator[dict[str, Any]]:
    """The replicas' request-log rows whose line holds `marker` (a torn line skipped)."""
    for _, row in _replica_events(folder, marker):
        yield row


def _replica_events(folder: Path, marker: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """`_request_events` with the replica each row came from."""
    for path in sorted(folder.glob("replica-*.requests.jsonl")):
        replica = int(path.name.split("-")[1].split(".")[0])
        with path.open() as fh:
            for line in fh:
                if marker not in line:
                    continue
                try:
                    yield replica, json.loads(line)
                except ValueError:
                    continue


def read_call_hops(folder: Path) -> pd.DataFrame:
    """Per call with an SLO the replicas were offered (core clock): its key, its arrival
    on the probe's timeline and the core's clock, `first_offer_s` (arrival
    to its first replica's scheduler) and `forwards_s` (each rejection to the next
    replica's, in order). Offers of one call share its arrival instant.

    vLLM's engine core takes new requests between steps, so a hop as logged holds the
    wait for the step in flight, which a simulated replica adds again; taking half of
    that step out (the midpoint) fit two runs' twins worse than the hops as logged
    (stock vLLM's chatbot twin at one replica: 6 against a real 4 sessions/s, 4 as
    logged), the host's own contention making up the rest. They are kept as logged."""
    offers: dict[tuple[str, float], list[tuple[float, str, float]]] = {}
    rejected: dict[str, float] = {}
    for row in _request_events(folder, '"event": "'):
        if row.get("event") == "rejected":
            rejected[str(row.get("id"))] = float(row.get("t", 0.0))
        elif row.get("event") == "added" and row.get("has_slo"):
            xargs = row.get("xargs") or {}
            mono, arrival = xargs.get("arrival_monotonic_s"), xargs.get("arrival_s")
            if isinstance(mono, int | float):
                offers.setdefault((str(xargs.get("call")), float(mono)), []).append(
                    (float(row.get("t", 0.0)), str(row.get("id")),
                     float(arrival) if isinstance(arrival, int | float) else float("nan")))
    rows = []
    for (call, mono), seen in offers.items():
        seen.sort()
        forwards = tuple(max(0.0, nxt[0] - rejected[cur[1]])
                         for cur, nxt in itertools.pairwise(seen) if cur[1] in rejected)
        rows.append({"call": call, "arrival_s": seen[0][2], "arrival_mono_s": mono,
                     "first_offer_s": max(0.0, seen[0][0] - mono), "forwards_s": forwards})
    return pd.DataFrame(rows, columns=["call", "arrival_s", "arrival_mono_s",
                                       "first_offer_s", "forwards_s"])


def read_offer_delays(folder: Path) -> dict[str, float] | None:
    """Medians of the hops SLOs-Serve's calls took to a scheduler (`read_call_hops`):
    `first_offer_s`, and `forward_s` (0 if no forward was seen); None without a call
    with an SLO."""
    hops = read_call_hops(folder)
    return offer_medians(hops) if len(hops) else None


def offer_medians(hops: pd.DataFrame) -> dict[str, float]:
    """The medians of a non-empty `read_call_hops` frame's first offers and forwards."""
    forwards = [f for fs in hops["forwards_s"] for f in fs]
    return {"first_offer_s": float(np.median(hops["first_offer_s"])),
            "forward_s": float(np.median(forwards)) if forwards else 0.0}


def read_engine_first_tokens(folder: Path) -> pd.DataFrame:
    """Per call the replica served: its key, its arrival on the probe's timeline and its
    first token's delay after arrival as the engine saw it (core clock). The plugin logs
    a call's token times as it leaves, stock vLLM's recording scheduler its first token."""
    added: dict[str, tuple[str, float, float]] = {}
    rows = []
    for row in _request_events(folder, '"event": "'):
        xargs = row.get("xargs") or {}
        if row.get("event") == "added" and row.get("has_slo"):
            mono, arrival = xargs.get("arrival_monotonic_s"), xargs.get("arrival_s")
            if isinstance(mono, int | float) and isinstance(arrival, int | float):
                added[str(row.get("id"))] = (str(xargs.get("call")), float(arrival),
                                             float(mono))
        elif (seen := added.get(str(row.get("id")))) is None:
            continue
        elif row.get("event") == "finished" and row.get("token_t"):     # the plugin's
            rows.append({"call": seen[0], "arrival_s": seen[1],
                         "engine_ttft_s": float(row["token_t"][0]) - seen[2]})
        elif row.get("event") == "first_token":                     # stock vLLM's
            rows.append({"call": seen[0], "arrival_s": seen[1],
                         "engine_ttft_s": float(row.get("t", 0.0)) - seen[2]})
    return pd.DataFrame(rows, columns=["call", "arrival_s", "engine_ttft_s"])
