"""`slobench profile` on a real engine: drive designed steps, fit the step-time model.

The design covers what a serving step can be (SPEC §6): prefill-only steps at several
prompt lengths (one request at a time), decode-only steps at several batch sizes and
two context lengths (a batch of requests started together), and mixed chunked steps (a
long prompt arriving while a batch decodes). Every replica runs the same design at the
same time, so each step is timed under the host load a run has. The step times come
from the engine itself: the recording scheduler's log (`vllm_plugin.steplog`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pandas as pd

from slobench.core.errors import EngineError
from slobench.core.outcome import Status
from slobench.engines.http.stream import stream_call
from slobench.engines.vllm.engine import VllmEngine
from slobench.engines.vllm.step_files import read_engine_info, read_steps
from slobench.perf.step_profile import FitReport, StepProfile, fit_step_profile

log = logging.getLogger(__name__)
PREFILL_LENGTHS = (16, 32, 64, 128, 256, 384, 512, 768, 1024, 1536, 2048)
DECODE_BATCHES = (1, 2, 4, 8, 16, 32)
DECODE_CONTEXTS = (32, 1024)        # prompt tokens of the decoding requests
DECODE_TOKENS = 48
MIXED_PROMPTS = (512, 1024, 2048)   # long prompts arriving beside 8 decodes
REPEATS = 3         # prefill and mixed shapes: few steps each, so repeated


@dataclass(frozen=True)
class Phase:
    """One part of the design: `calls` (prompt tokens, output tokens, start delay s)
    sent together."""

    name: str
    calls: tuple[tuple[int, int, float], ...]


def design(max_prompt: int) -> list[Phase]:
    phases = []
    for _ in range(REPEATS):
        phases += [Phase(f"prefill {p}", ((p, 1, 0.0),)) for p in PREFILL_LENGTHS
                   if p <= max_prompt]
    for ctx in DECODE_CONTEXTS:
        phases += [Phase(f"decode x{b} @{ctx}", tuple((min(ctx, max_prompt), DECODE_TOKENS,
                                                      0.0) for _ in range(b)))
                   for b in DECODE_BATCHES]
    for _ in range(REPEATS):
        for p in MIXED_PROMPTS:
            if p <= max_prompt:
                decodes = tuple((32, 96, 0.0) for _ in range(8))
                phases.append(Phase(f"mixed 8 decodes + {p}", (*decodes, (p, 4, 0.3))))
    return phases


async def _drive(urls: list[str], model: str, prompt: Callable[[int, int], Any],
                 phases: list[Phase], timeout_s: float,
                 progress: Callable[[str], None]) -> None:
    t0 = time.perf_counter()

    def clock() -> float:
        return time.perf_counter() - t0

    async def call(http: aiohttp.ClientSession, url: str, p: int, n: int, delay: float,
                   seed: int) -> None:
        await asyncio.sleep(delay)
        body = {"model": model, "prompt": prompt(p, seed), "max_tokens": n, "min_tokens": n,
                "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True},
                "temperature": 0.0}
        res = await stream_call(http, url + "/v1/completions", body, clock, timeout_s)
        if res.status != Status.OK:
            raise EngineError(f"profile request to {url} failed: {res.status} {res.error}")

    seed = int(time.time()) & 0xFFFF
    # A fresh connection per call: a keep-alive one the server closes while idle between
    # phases would fail the next call (the design has no latency to protect).
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        for k, phase in enumerate(phases):
            progress(f"[{k + 1}/{len(phases)}] {phase.name}")
            await asyncio.gather(*(call(http, url, p, n, d, seed + 97 * k + 7 * i + 1000 * j)
                                   for j, url in enumerate(urls)
                                   for i, (p, n, d) in enumerate(phase.calls)))


def profile_engine(engine: VllmEngine, progress: Callable[[str], None] = log.info,
                   timeout_s: float = 120.0) -> tuple[StepProfile, FitReport, pd.DataFrame]:
    """Run the design on an entered `VllmEngine` (stock vLLM, steps recorded) and fit."""
    if not engine.record_steps:
        raise EngineError("profiling needs --engine vllm replicas that record their steps")
    max_prompt = min(max(PREFILL_LENGTHS), (engine.max_model_len or 4096) - 128)
    phases = design(max_prompt)
    # A CPU engine runs each new batch shape slowly the first time (kernels are built per
    # shape: a 768-token prefill took 128 ms once and 31 ms after), so the design runs
    # once unmeasured first.
    progress("warm-up pass (not measured)")
    asyncio.run(_drive(engine.urls, engine.served_model, engine.prompt_maker, phases,
                       timeout_s, lambda _msg: None))
    started = time.monotonic()
    asyncio.run(_drive(engine.urls, engine.served_model, engine.prompt_maker, phases,
                       timeout_s, progress))
    time.sleep(1.0)                                   # the replicas flush when idle
    folder = engine.steps_dir("vllm")
    steps = read_steps(folder, started, time.monotonic())
    info = read_engine_info(folder) or {}
    meta = {"engine": "vllm", "model": engine.model_arg if not engine.tiny else "tiny",
            "hardware": engine.describe().get("cpu_model"), "device": engine.device,
            "replicas": engine.replicas, "tp": engine.tp,
            "vllm_version": info.get("vllm_version"), "engine_info": info,
            "created": datetime.now(UTC).isoformat(), "steps": len(steps),
            "design": [p.name for p in phases]}
    profile, report = fit_step_profile(steps, meta)
    return profile, report, steps
