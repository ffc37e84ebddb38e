"""The simulator twin of a real run (SPEC §10), and its fidelity and audit tables.

The twin replays the run on the simulator with everything the real run had: the same
seeded workload per probe (sessions, seed, rates), the same SLOs (the run's calibration,
its TPOT scale), the same replicas, vLLM's limits and KV blocks as the engine reported
them, and a step-time profile fitted from the steps the run's replicas logged (or one
given). SLOs-Serve plans as the plugin does: the plugin's SLO guard, its real-engine
settings, and each replica the model its real replica logged at each instant
(`perf/plan_timeline.py`; else the online step model at the twin's profile, inflated
by its own rules, `plan_model`), and its calls take the hops the real ones took to and from the
schedulers (`host_delays.py`: the router, HTTP; each call its own where the real run
probed the rate), stock vLLM's calls the HTTP hops they took. What the twin leaves out is
the rest of the host: client stalls, other processes on the cores.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slobench.campaign.campaign import probe_sessions, sized_workload
from slobench.campaign.config import RunConfig, flat_names
from slobench.campaign.host_delays import RunHops, run_hops
from slobench.engines.requests import LengthPredictor, RequestFactory, tpot_tiers
from slobench.engines.sim.engine import SimSetup, run_sim_probe
from slobench.engines.vllm.plugin.config import DEFAULT_FEEDBACK_QUANTILE, plugin_guard
from slobench.engines.vllm.step_files import (
    read_engine_info,
    read_plan_inflations,
    read_plan_timelines,
    read_steps,
)
from slobench.metrics.audit import admission_audit
from slobench.metrics.build_records import RunLabels, build_records
from slobench.metrics.capacity import SearchConfig, capacity_search
from slobench.metrics.fidelity import crossing_capacity, fidelity_capacities, fidelity_points
from slobench.metrics.records import records_frame
from slobench.metrics.run_tables import read_requests
from slobench.metrics.summary import point_summary
from slobench.perf.feedback import OnlineStepModel
from slobench.perf.measured import MeasuredModel
from slobench.perf.model import PerfModel
from slobench.perf.plan_timeline import PlanTimeline
from slobench.perf.step_profile import (
    FitReport,
    StepProfile,
    fit_step_profile,
    load_profile,
    usable_steps,
)


@dataclass
class TwinResult:
    fidelity: pd.DataFrame
    audit: pd.DataFrame
    requests: pd.DataFrame
    profile: StepProfile
    fit: FitReport | None
    plan_inflation: dict[str, float]   # the plan model's: prefill, decode, one_step
    host: dict[str, float] | None = None   # the hops SLOs-Serve's calls took: medians
    baseline_host: dict[str, float] | None = None    # stock vLLM's


def _run_config(meta: dict[str, Any]) -> RunConfig:
    saved = dict(meta.get("config") or {})
    known = flat_names()
    cfg = {k: v for k, v in saved.items() if k in known}
    for key in ("out", "trace"):
        if cfg.get(key):
            cfg[key] = Path(cfg[key])
    cfg["twin"] = False
    return RunConfig.build(**cfg)


def run_steps(run_dir: Path) -> pd.DataFrame:
    """Every step every backend's replicas logged in the run."""
    frames = [read_steps(d) for d in sorted((run_dir / "steps").glob("*")) if d.is_dir()]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plan_model(profile: StepProfile, steps: pd.DataFrame, plugin_dir: Path
               ) -> OnlineStepModel:
    """The plugin's online model at the twin's profile, inflated as the plugin's was (where
    a replica's log says what it planned with at each instant, the twin follows that
    instead, `_TwinProber._setup_for`; this model covers the rest): the
    median of what its replicas logged at their refits, or where they logged nothing,
    its rules read over the run's steps (decode-only steps' 90th, runs of prefill steps'
    99th, one prefill step's 95th). The logged values cover the online profile's error
    over its recent steps; the same rules over the whole run's steps against one profile
    read its drift too (summarization: 1.9x against the plugin's median 1.15x)."""
    model = OnlineStepModel(profile, quantile=DEFAULT_FEEDBACK_QUANTILE)
    logged = read_plan_inflations(plugin_dir) if plugin_dir.is_dir() else None
    if logged is not None:
        return model.frozen_at(profile, logged["prefill"], logged["decode"],
                               logged["one_step"], logged["central"])
    data = usable_steps(steps) if len(steps) else steps
    if not len(data):
        return model.frozen_at(profile, 1.0, 1.0, 1.0)
    pairs = (data["prefill_pairs"] if "prefill_pairs" in data
             else data["prefill_tokens"] * data["context_tokens"])
    rows = np.column_stack([data["prefill_tokens"], data["decode_tokens"],
                            data["context_tokens"], pairs, data["step_s"]]).astype(float)
    return OnlineStepModel.fixed(profile, rows, quantile=DEFAULT_FEEDBACK_QUANTILE)


def twin_setup(meta: dict[str, Any], cfg: RunConfig, profile: StepProfile,
               plan_perf: PerfModel, run_dir: Path, hops: RunHops | None = None,
               baseline_hops: RunHops | None = None) -> SimSetup:
    hw = meta.get("hardware") or {}
    info = hw.get("engine_info") or next(
        (i for d in sorted((run_dir / "steps").glob("*")) if (i := read_engine_info(d))), {})
    kv = int(info.get("kv_tokens") or profile.kv_tokens or 0)
    if kv <= 0:
        raise ValueError(f"{run_dir}: the engine's KV size is not recorded "
                         "(steps/vllm/replica-0.engine.json)")
    limits = (int(info["max_num_scheduled_tokens"]), int(info["max_num_running_reqs"]))
    calib_perf = MeasuredModel.from_dict(meta["perf_model"])
    return SimSetup(perf=profile, replicas=int(hw.get("replicas") or 1),
                    kv_tokens_per_replica=kv, gpu_memory_bytes=1.0, gpu_name="engine",
                    routing=cfg.sim.routing, slos=cfg.slos_config(real_engine=True),
                    seed=cfg.seed, vllm_limits=limits,
                    plan_perf=plan_perf,
                    slo_guard=plugin_guard(calib_perf),
                    host=(hops or RunHops()).medians,
                    baseline_host=(baseline_hops or RunHops()).medians)


class _TwinProber:
    """Probes the twin at a rate, as the real run probed it; keeps each rate's rows once."""

    def __init__(self, meta: dict[str, Any], cfg: RunConfig, setup: SimSetup,
                 hops: dict[str, RunHops] | None = None,
                 plans: dict[int, PlanTimeline] | None = None) -> None:
        self.meta, self.cfg, self.setup = meta, cfg, setup
        self.hops = hops or {}          # backend -> the hops its calls took
        self.plans = plans or {}        # SLOs-Serve's replica -> what it planned with
        self.calib_perf = MeasuredModel.from_dict(meta["perf_model"])
        self.tpot_scale = float(meta["calibration"]["tpot_scale"])
        self.rows: list[dict] = []
        self.records: list[pd.DataFrame] = []
        self._seen: set[tuple[str, str, float]] = set()

    def probe(self, scenario: str, backend: str, rate: float) -> float:
        cfg = self.cfg
        base = sized_workload(scenario, cfg.requests, cfg.seed, cfg.max_context, cfg.trace)
        predictor = (LengthPredictor(base, cfg.predict_quantile)
                     if cfg.output_lengths == "unknown" else None)
        workload = sized_workload(scenario, probe_sessions(cfg, rate), cfg.seed,
                                  cfg.max_context, cfg.trace)
        factory = RequestFactory(self.calib_perf, self.tpot_scale, predictor)
        res = run_sim_probe(self._setup_for(scenario, rate), backend, workload.at_rate(rate),
                            factory, tpot_tiers(base, self.tpot_scale))
        labels = RunLabels(str(self.meta.get("run_id", "")), scenario, backend, "twin", rate)
        records = build_records(res.outcomes, labels)
        row = {"scenario": scenario, "backend": backend, "rate": rate,
               **point_summary(records, [], [])}
        if (scenario, backend, rate) not in self._seen:      # a search may revisit a rate
            self._seen.add((scenario, backend, rate))
            self.records.append(records_frame(records))
            self.rows.append(row)
        return float(row["attainment"])

    def _setup_for(self, scenario: str, rate: float) -> SimSetup:
        """The setup for a probe at this rate: each call's own hops and each SLOs-Serve
        replica's logged plan over the probe, where the run logged them."""
        slos, stock = self.hops.get("slos"), self.hops.get("vllm")
        if slos is None and stock is None:
            return self.setup
        window = slos.window(scenario, rate) if slos and self.plans else None
        timelines = None if window is None else tuple(
            self.plans[i].window(*window) if i in self.plans else None
            for i in range(self.setup.replicas))
        return replace(self.setup,
                       host=slos.for_probe(scenario, rate) if slos else self.setup.host,
                       baseline_host=(stock.for_probe(scenario, rate) if stock
                                      else self.setup.baseline_host),
                       plan_timelines=timelines)

    def capacity(self, scenario: str, backend: str) -> tuple[float, str]:
        """The twin's own capacity search, with the real run's search settings."""
        cfg = self.cfg
        search = SearchConfig(threshold=cfg.search.threshold, rel_tol=cfg.search.rel_tol,
                              start_rate=max(float(self.setup.replicas), cfg.search.min_rate),
                              min_rate=cfg.search.min_rate)
        res = capacity_search(lambda r: self.probe(scenario, backend, r), search)
        return res.capacity, str(res.bound)

    def grid_capacity(self, scenario: str, backend: str) -> tuple[float, str]:
        mine = [(r["rate"], r["attainment"]) for r in self.rows
                if r["scenario"] == scenario and r["backend"] == backend]
        return crossing_capacity(mine, self.cfg.search.threshold)


def _real_requests(run_dir: Path) -> pd.DataFrame:
    """The real run's requests.parquet, or a killed run's probes so far."""
    requests = read_requests(run_dir)
    if requests is None:
        raise FileNotFoundError(run_dir / "requests.parquet")
    return requests


def replay(run_dir: Path, profile_path: Path | None = None,
           progress: Callable[[str], None] | None = None) -> TwinResult:
    meta = json.loads((run_dir / "run.json").read_text())
    cfg = _run_config(meta)
    summary = pd.read_parquet(run_dir / "summary.parquet")
    steps = run_steps(run_dir)
    fit: FitReport | None = None
    if profile_path is not None:
        profile = load_profile(profile_path)
    else:
        profile, fit = fit_step_profile(steps, {"source": f"refitted from {run_dir}"})
    planned = plan_model(profile, steps, run_dir / "steps" / "slos")
    requests = _real_requests(run_dir)
    hops = {b: run_hops(run_dir / "steps" / b, requests, b) for b in ("slos", "vllm")}
    setup = twin_setup(meta, cfg, profile, planned, run_dir, hops["slos"], hops["vllm"])
    twin = _TwinProber(meta, cfg, setup, hops, read_plan_timelines(run_dir / "steps" / "slos"))
    points = summary[summary["kind"] == "point"]
    real_caps: dict[tuple[str, str], tuple[float, str]] = {}
    twin_caps: dict[tuple[str, str], tuple[float, str]] = {}
    for (scenario, backend), group in points.groupby(["scenario", "backend"], sort=False):
        for rate in group["rate"]:
            if progress:
                progress(f"twin {scenario} / {backend} at {rate:g}/s")
            twin.probe(scenario, backend, float(rate))
        cap = summary[(summary["kind"] == "capacity") & (summary["scenario"] == scenario)
                      & (summary["backend"] == backend)]
        key = (scenario, backend)
        if len(cap):                    # the real run searched: so does the twin
            row = cap.iloc[0]
            real_caps[key] = (float(row["capacity_rps"]),
                              str(row.get("capacity_bound", "measured")))
            twin_caps[key] = twin.capacity(scenario, backend)
        else:                           # fixed rates: where each crosses the threshold
            real_caps[key] = crossing_capacity(
                list(zip(group["rate"], group["attainment"], strict=True)), cfg.search.threshold)
            twin_caps[key] = twin.grid_capacity(scenario, backend)
    fidelity = pd.concat([fidelity_points(points, pd.DataFrame(twin.rows)),
                          fidelity_capacities(real_caps, twin_caps)], ignore_index=True)
    twin_requests = pd.concat(twin.records, ignore_index=True)
    audit = pd.concat([
        admission_audit(requests).assign(source="real"),
        admission_audit(twin_requests).assign(source="twin")], ignore_index=True)
    inflations = {"prefill": planned.inflation, "decode": planned.inflation_decode,
                  "one_step": planned.inflation_one, "central": planned.inflation_central}
    return TwinResult(fidelity, audit, twin_requests, profile, fit, inflations,
                      {**setup.host.to_dict(), "calls_with_own_hops": hops["slos"].calls},
                      {**setup.baseline_host.to_dict(),
                       "calls_with_own_hops": hops["vllm"].calls})


def write_twin(run_dir: Path, result: TwinResult) -> list[Path]:
    """fidelity.parquet, audit.parquet, twin_requests.parquet and twin.json, atomically."""
    out = []
    for name, frame in (("fidelity", result.fidelity), ("audit", result.audit),
                        ("twin_requests", result.requests)):
        path = run_dir / f"{name}.parquet"
        tmp = path.with_name(path.name + ".tmp")
        frame.to_parquet(tmp, index=False)
        tmp.replace(path)
        out.append(path)
    doc = {"profile": result.profile.describe(), "plan_inflation": result.plan_inflation,
           "host": result.host, "baseline_host": result.baseline_host,
           "fit": None if result.fit is None else result.fit.__dict__}
    path = run_dir / "twin.json"
    path.write_text(json.dumps(doc, indent=2, default=lambda v: None if v is math.nan else v))
    return [*out, path]
