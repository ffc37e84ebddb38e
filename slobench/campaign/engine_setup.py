"""The engine a run names (`--engine sim | vllm | openai`), built from its config and
up for the length of a `with`: a registry from engine name to its constructor."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from slobench.campaign.config import RunConfig
from slobench.engines.base import Engine
from slobench.engines.sim.engine import SimEngine, SimSetup
from slobench.perf.factory import build_perf_model, kv_capacity_tokens
from slobench.perf.step_profile import StepProfile


def sim_engine(cfg: RunConfig, out_dir: Path) -> SimEngine:
    perf = build_perf_model(cfg.model, cfg.sim.hardware, cfg.tp, cfg.sim.profile)
    hw = cfg.sim.hardware_spec()                # --paper: the paper's GPU memory
    kv_tokens = kv_capacity_tokens(cfg.model, hw, cfg.tp)
    limits = None
    if isinstance(perf, StepProfile):       # a real engine's: its KV and vLLM limits
        kv_tokens, limits = perf.kv_tokens or kv_tokens, perf.vllm_limits
    setup = SimSetup(perf=perf, replicas=cfg.replicas, kv_tokens_per_replica=kv_tokens,
                     gpu_memory_bytes=hw.mem_bytes, gpu_name=hw.name, routing=cfg.sim.routing,
                     slos=cfg.slos_config(real_engine=False),
                     spec_acceptance=cfg.spec_alpha if cfg.spec_tokens else 0.0,
                     seed=cfg.seed, vllm_limits=limits, spec_tokens=cfg.spec_tokens)
    return SimEngine(setup, {"gpu": hw.name, "tp": cfg.tp, "replicas": cfg.replicas})


def vllm_engine(cfg: RunConfig, out_dir: Path) -> Engine:
    from slobench.engines.vllm.engine import VllmEngine

    engine = VllmEngine(cfg.model, out_dir, vllm_python=cfg.real.vllm_python,
                        vllm_args=[*cfg.real.vllm_args, *cfg.speculative_vllm_args()],
                        replicas=cfg.real.cpu_replicas, gpus=cfg.gpus, tp=cfg.tp,
                        startup_timeout_s=cfg.real.startup_timeout_s,
                        request_timeout_s=cfg.real.request_timeout_s,
                        record_steps=cfg.real.record_steps, probe_policy=cfg.real.probe_policy(),
                        ray_address=cfg.ray_address, load=cfg.real.load_options(),
                        router=cfg.real.router)
    engine.slos_config = cfg.slos_config(real_engine=True)
    return engine


def openai_engine(cfg: RunConfig, out_dir: Path) -> Engine:
    from slobench.engines.http.engine import OpenAIEngine

    real = cfg.real
    return OpenAIEngine(real.url, cfg.model, out_dir, request_timeout_s=real.request_timeout_s,
                        probe_policy=real.probe_policy(), load=real.load_options())


ENGINE_BUILDERS: dict[str, Callable[[RunConfig, Path], Engine]] = {
    "sim": sim_engine, "vllm": vllm_engine, "openai": openai_engine}


@contextlib.contextmanager
def open_engine(cfg: RunConfig, out_dir: Path) -> Iterator[tuple[Engine, RunConfig]]:
    """The engine, up, and the config as it runs there: a real engine's own GPU count,
    context length and served model replace what was asked."""
    if cfg.engine == "sim":
        yield sim_engine(cfg, out_dir), cfg
        return
    from slobench.engines.http.server import check_backends

    check_backends(cfg.engine, cfg.backends)
    out_dir.mkdir(parents=True, exist_ok=True)
    engine = ENGINE_BUILDERS[cfg.engine](cfg, out_dir)
    with engine as up:                                     # type: ignore[attr-defined]
        context = min(cfg.max_context, up.max_model_len or cfg.max_context)
        yield up, replace(cfg, gpus=up.units, tp=up.tp, max_context=context,
                          model=up.served_model if cfg.engine == "openai" else cfg.model)
