"""Open-loop load generator (SPEC §4): every call goes out at its scheduled time.

A dispatcher walks the sessions in start order and, at each session's start time,
starts a task for it; it never waits for earlier responses, so a slow server cannot
slow the offered load (no coordinated omission). Times are seconds since the probe's
t0 on `time.perf_counter` (CLOCK_MONOTONIC); TTFT is judged from the scheduled time
and the actual send time is kept (dispatch lag = actual - scheduled). Chained calls
(tool calling) are scheduled at the previous call's finish plus its tool delay, as in
the simulator. Calls round-robin over the server URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from slobench.core.outcome import CallOutcome, Status
from slobench.core.request import SchedRequest, SloEnvelope
from slobench.engines.http.options import LoadOptions, request_body
from slobench.engines.http.stream import connector, stream_call
from slobench.engines.requests import RequestFactory
from slobench.workloads.entities import SessionSpec, Workload

PromptMaker = Callable[[int, int], "str | list[int]"]   # (tokens, seed) -> prompt
SPIN_S = 0.001          # sleep to this much before a deadline, then yield-spin to it


def call_key(session_id: int, call_index: int) -> str:
    """How a call is named to the server (`vllm_xargs["call"]`) and in its verdict log."""
    return f"{session_id}:{call_index}"


def slo_xargs(req: SchedRequest, t0_monotonic: float, call: str = "") -> dict[str, Any]:
    """The per-request SLOs, as `vllm_xargs` (flat: vLLM allows scalars and lists).

    `arrival_s` is on the probe's timeline; `arrival_monotonic_s` is the same instant on
    CLOCK_MONOTONIC (`time.monotonic()` in a server on the same machine), so a scheduler
    can compute the TTFT deadline as arrival_monotonic_s + ttft_slo_s.
    """
    return SloEnvelope.for_request(req, t0_monotonic + req.arrival_s, call).to_xargs()


@dataclass
class LoadGenConfig:
    urls: list[str]
    model: str
    prompt: PromptMaker
    request_timeout_s: float = 300.0
    start_delay_s: float = 0.1
    warm_connections: int = 8           # keep-alive connections opened per URL before t0
    extra_body: dict[str, Any] = field(default_factory=dict)
    send_slos: bool = True
    prompt_salt: int = 0                # varies prompts between probes (no cache reuse)
    warm_requests: int = 0              # uncounted short calls per URL before t0
    load: LoadOptions = field(default_factory=LoadOptions)   # headers, endpoint, cap
    texts: dict[tuple[int, int], str] = field(default_factory=dict)  # a dataset's prompts


@dataclass
class LoadResult:
    outcomes: list[CallOutcome]
    end_s: float
    last_arrival_s: float
    aborted: str | None = None
    interrupted: bool = False
    stalls: list[tuple[float, float, float]] = field(default_factory=list)

    @property
    def backlog_s(self) -> float:
        return max(0.0, self.end_s - self.last_arrival_s)


class OpenLoop:
    def __init__(self, cfg: LoadGenConfig, factory: RequestFactory) -> None:
        self.cfg = cfg
        self.factory = factory
        self.t0 = 0.0
        self.outcomes: list[CallOutcome] = []
        self.stalls: list[tuple[float, float, float]] = []   # (at, wall s, cpu s)
        self._rr = itertools.cycle(range(len(cfg.urls)))
        cap = cfg.load.max_concurrency
        # --max-concurrency: a call waits for a free slot; its TTFT still counts from its
        # scheduled time (the wait is queueing the user sees), its send time is kept.
        self._slots = asyncio.Semaphore(cap) if cap else contextlib.nullcontext()

    def now(self) -> float:
        return time.perf_counter() - self.t0

    async def sleep_until(self, t: float) -> None:
        delay = t - self.now()
        if delay > SPIN_S:
            await asyncio.sleep(delay - SPIN_S)
        while self.now() < t:
            await asyncio.sleep(0)

    def body(self, req: SchedRequest, prompt: str | list[int], call: str = "") -> dict[str, Any]:
        body = request_body(self.cfg.load.endpoint, self.cfg.model, prompt, req.output_tokens)
        if self.cfg.send_slos:
            body["vllm_xargs"] = slo_xargs(req, self.t0, call)
        body.update(self.cfg.extra_body)
        return body

    def _outcome(self, session: SessionSpec, index: int, req: SchedRequest,
                 sent: float, replica: int) -> CallOutcome:
        return CallOutcome(
            session_id=session.session_id, call_index=index,
            stage=session.calls[index].stage, request_class=session.request_class,
            scheduled_s=req.arrival_s, actual_send_s=sent, prompt_tokens=req.prompt_tokens,
            expected_tokens=req.output_tokens, phase_tpots=req.phase_tpots,
            ttft_slo_s=req.ttft_slo_s, status=Status.OK, replica=replica)

    async def run_session(self, http: aiohttp.ClientSession, session: SessionSpec) -> None:
        due = session.start_s
        seed = hash((self.cfg.prompt_salt, session.session_id)) & 0x7FFFFFFF
        for index, call in enumerate(session.calls):
            req = self.factory(session, index, call, due)
            await self.sleep_until(due)
            replica = next(self._rr)
            prompt = (self.cfg.texts.get((session.session_id, index))
                      or self.cfg.prompt(call.prompt_tokens, seed))
            body = self.body(req, prompt, call_key(session.session_id, index))
            async with self._slots:
                out = self._outcome(session, index, req, self.now(), replica)
                self.outcomes.append(out)
                res = await stream_call(http, self.cfg.urls[replica] + self.cfg.load.path,
                                        body, self.now, self.cfg.request_timeout_s)
            out.status, out.error, out.token_times = res.status, res.error, res.token_times
            out.finish_s = res.finish_s
            if res.replica is not None:          # behind the SLOs-Serve router
                out.replica = res.replica
            if res.prompt_tokens is not None:
                out.prompt_tokens = res.prompt_tokens
            ended = res.finish_s if not math.isnan(res.finish_s) else self.now()
            due = ended + call.tool_delay_s

    async def watch_stalls(self, every_s: float = 0.01) -> None:
        """Record event-loop stalls over 50 ms: when, how long, and this process's CPU time
        meanwhile (near zero: the OS did not run us; near the wall time: our own code)."""
        while True:
            wall, cpu = time.perf_counter(), time.process_time()
            await asyncio.sleep(every_s)
            late = time.perf_counter() - wall - every_s
            if late > 0.05:
                self.stalls.append((wall - self.t0, late, time.process_time() - cpu))

    async def warm_up(self, http: aiohttp.ClientSession) -> None:
        """Open keep-alive connections before t0 (GET /v1/models), so the first calls do
        not pay TCP set-up inside their TTFT; failures are ignored (the calls will tell)."""

        async def get(url: str) -> None:
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with asyncio.timeout(5), http.get(url + "/v1/models") as resp:
                    await resp.read()

        urls = [u for u in self.cfg.urls for _ in range(self.cfg.warm_connections)]
        await asyncio.gather(*(get(u) for u in urls))
        await self.warm_path(http)

    async def warm_path(self, http: aiohttp.ClientSession) -> None:
        """Uncounted short calls through every URL (client, router, servers), one after
        another, so the probe's first calls pay no cold path; they carry no SLO (the
        SLOs-Serve plugin serves them best-effort)."""
        clock = time.perf_counter
        for k in range(self.cfg.warm_requests * len(self.cfg.urls)):
            url = self.cfg.urls[k % len(self.cfg.urls)]
            body = request_body(self.cfg.load.endpoint, self.cfg.model,
                                self.cfg.prompt(16, 7919 + k), 4)
            await stream_call(http, url + self.cfg.load.path, body, clock, 30.0)

    async def run(self, workload: Workload,
                  abort_check: Callable[[], str | None] | None = None) -> LoadResult:
        sessions = sorted(workload.sessions, key=lambda s: s.start_s)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
        aborted: str | None = None
        async with aiohttp.ClientSession(connector=connector(), timeout=timeout,
                                         headers=self.cfg.load.headers) as http:
            await self.warm_up(http)
            self.t0 = time.perf_counter() + self.cfg.start_delay_s
            tasks: list[asyncio.Task[None]] = []

            async def dispatch() -> None:
                for s in sessions:
                    await self.sleep_until(s.start_s)
                    tasks.append(asyncio.create_task(self.run_session(http, s)))
                await asyncio.gather(*tasks)

            main = asyncio.create_task(dispatch())
            watch = asyncio.create_task(self.watch_stalls())
            try:
                while not main.done():
                    await asyncio.wait({main}, timeout=0.5)
                    reason = abort_check() if abort_check else None
                    if reason and not main.done():
                        aborted = reason
                        break
            finally:
                # On an abort, Ctrl-C (cancellation) or an error, stop every in-flight call
                # before the HTTP session closes under them.
                for t in [main, *tasks, watch]:
                    t.cancel()
                await asyncio.gather(main, *tasks, watch, return_exceptions=True)
            if aborted is None:
                main.result()
        self.close_unfinished(sessions, aborted)
        finishes = [o.finish_s for o in self.outcomes if not math.isnan(o.finish_s)]
        last = sessions[-1].start_s if sessions else 0.0
        return LoadResult(self.outcomes, max(finishes, default=last), last, aborted,
                          stalls=self.stalls)

    def close_unfinished(self, sessions: list[SessionSpec], aborted: str | None) -> None:
        """After an abort: calls cut off mid-stream and calls never sent become errors."""
        if aborted is None:
            return
        reason = aborted.splitlines()[0]
        seen: dict[int, int] = {}
        for o in self.outcomes:
            seen[o.session_id] = max(seen.get(o.session_id, -1), o.call_index)
            if o.status == Status.OK and math.isnan(o.finish_s):
                o.status, o.error = Status.ERROR, f"cut off: {reason}"
        for s in sessions:
            for index in range(seen.get(s.session_id, -1) + 1, len(s.calls)):
                req = self.factory(s, index, s.calls[index], s.start_s)
                o = self._outcome(s, index, req, math.nan, -1)
                o.status, o.error = Status.ERROR, f"not sent: {reason}"
                self.outcomes.append(o)


def run_open_loop(workload: Workload, factory: RequestFactory, cfg: LoadGenConfig,
                  abort_check: Callable[[], str | None] | None = None) -> LoadResult:
    """Synchronous entry point: one probe, in a fresh event loop.

    The garbage collector's long-lived objects are frozen for the probe (fewer, shorter
    GC pauses while timing). Ctrl-C ends the probe early: the calls sent so far are
    kept (unfinished ones as errors) and the result says `interrupted`.
    """
    loop = OpenLoop(cfg, factory)
    gc.collect()
    gc.freeze()
    try:
        return asyncio.run(loop.run(workload, abort_check))
    except KeyboardInterrupt:
        sessions = sorted(workload.sessions, key=lambda s: s.start_s)
        loop.close_unfinished(sessions, "interrupted (Ctrl-C)")
        last = sessions[-1].start_s if sessions else 0.0
        return LoadResult(loop.outcomes, loop.now(), last, "interrupted (Ctrl-C)",
                          interrupted=True)
    finally:
        gc.unfreeze()
