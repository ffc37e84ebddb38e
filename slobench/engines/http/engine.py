"""The `openai` engine (SPEC §2): a server at a URL that slobench did not start.

`OpenAIEngine` implements `engines.base.Engine` over HTTP: `calibrate()` measures the
server (SPEC §5), `probe()` drives one workload at one rate through the open-loop load
generator and runs a probe again (bounded) when the client itself stalled, or when a
server of ours did (`_engine_stall_s`: a step the host held far past its cost). The vLLM
engine (`engines.vllm.engine.VllmEngine`) is this engine over servers it starts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slobench.core.calibration import Calibration
from slobench.core.errors import input_error
from slobench.core.outcome import CallOutcome, ProbeResult
from slobench.engines.http.calibrate import MeasuredModel, calibrate_server
from slobench.engines.http.openloop import LoadGenConfig, LoadResult, run_open_loop
from slobench.engines.http.options import LoadOptions
from slobench.engines.http.probe_policy import (
    ProbePolicy,
    client_major_faults,
    cpu_model,
    group_major_faults,
)
from slobench.engines.http.prompts import id_prompt, make_prompt
from slobench.engines.http.server import DatasetPrompts, served_model
from slobench.engines.requests import RequestFactory
from slobench.perf.model import PerfModel
from slobench.workloads.entities import Workload

log = logging.getLogger(__name__)


class OpenAIEngine:
    name = "openai"
    backend_major = True                 # one backend per server: its own scheduler
    parallel_probes = False              # probes share the server, one at a time
    kv_tokens_per_replica = None

    def __init__(self, url: str | None, model: str, out_dir: Path, *,
                 request_timeout_s: float = 300.0, probe_policy: ProbePolicy | None = None,
                 load: LoadOptions | None = None) -> None:
        if not url:
            raise input_error("--url", None, "engine 'openai' needs --url of the server")
        self.out_dir = out_dir
        self.urls = [url.rstrip("/")]
        self.model_arg = model           # the served model's name; "": the only one served
        self.device, self.replicas, self.tp = "remote", 1, 1
        self._init_client(request_timeout_s, probe_policy, load)

    def _init_client(self, request_timeout_s: float, probe_policy: ProbePolicy | None,
                     load: LoadOptions | None) -> None:
        self.load = load or LoadOptions()   # headers, endpoint, cap, dataset
        self.prompts = (DatasetPrompts(self.load.dataset, self.load.tokenizer)
                        if self.load.dataset else None)
        self.probe_policy = probe_policy or ProbePolicy()
        self.request_timeout_s = request_timeout_s
        self.perf: PerfModel | None = None
        self.notes = log.info           # hears calibration's progress (the run: its console)
        self._probes = 0

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> OpenAIEngine:
        try:
            self._connect(self.model_arg or None)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        return None                      # nothing of ours runs

    def _connect(self, wanted: str | None) -> None:
        """The served model (and its context), then a --dataset file's prompt lengths."""
        self.served_model, self.max_model_len = served_model(self.urls[0], wanted,
                                                             self.load.headers)
        if self.prompts is not None:
            self.prompts.measure(self.urls[0], self.served_model, self.load.headers,
                                 self.max_model_len)

    @property
    def units(self) -> int:
        """What capacity is divided by: GPUs, or replicas on CPU / a remote URL."""
        return self.replicas * self.tp

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "device": self.device, "urls": self.urls,
                "cpu_model": cpu_model(), "replicas": self.replicas, "tp": self.tp,
                "served_model": getattr(self, "served_model", None),
                "max_model_len": getattr(self, "max_model_len", None)}

    def prompt_maker(self, n: int, seed: int) -> str | list[int]:
        if self.load.endpoint == "chat":    # chat messages are text
            return make_prompt(n, seed)
        return id_prompt(n, seed)

    # -- measurement -------------------------------------------------------------------
    def calibrate(self, slo_scale: float | None, notes: Callable[[str], None] | None = None,
                  ) -> tuple[MeasuredModel, Calibration]:
        if notes is not None:
            self.notes = notes
        perf, calib = calibrate_server(self.urls[0], self.served_model, self.prompt_maker,
                                       self.max_model_len, slo_scale, self.request_timeout_s,
                                       self.notes, self.load)
        self.perf = perf
        return perf, calib

    def dead(self) -> str | None:
        """Why the engine can no longer serve (a process of ours died); None: it can."""
        return None

    def probe(self, backend: str, workload: Workload, factory: RequestFactory,
              tiers: tuple[float, ...]) -> ProbeResult:
        """One probe; run again (bounded, `probe_policy`) when the client or a server of
        ours stalled longer than the policy's threshold."""
        self.use_backend(backend)
        policy, discarded = self.probe_policy, []
        while True:
            res, faults = self._probe_once(workload, factory)
            stall = max((w for _, w, _ in res.stalls), default=0.0)
            engine_stall = (0.0 if res.aborted or res.interrupted
                            else self._engine_stall_s(backend))
            if (max(stall, engine_stall) <= policy.stall_threshold_s or res.aborted
                    or len(discarded) >= policy.max_stall_reruns or res.interrupted):
                return self._result(backend, res, faults, discarded, engine_stall)
            log.warning("%s stalled %.2f s during a probe: running it again",
                        "client" if stall >= engine_stall else "a server's step",
                        max(stall, engine_stall))
            discarded.append(res.outcomes)

    def use_backend(self, backend: str) -> None:
        """Make the server serve `backend`: a URL serves its own scheduler, nothing to do."""

    def _probe_once(self, workload: Workload,
                    factory: RequestFactory) -> tuple[LoadResult, dict[str, int]]:
        self._probes += 1
        self._probe_started = time.monotonic()
        before = self._faults()
        # The scenario's calls with a --dataset file's prompts (and their lengths).
        workload, texts = self.prompts.apply(workload) if self.prompts else (workload, {})
        cfg = LoadGenConfig(urls=self.urls, model=self.served_model, prompt=self.prompt_maker,
                            request_timeout_s=self.request_timeout_s,
                            prompt_salt=self._probes,
                            warm_requests=self.probe_policy.warm_requests,
                            load=self.load, texts=texts)
        res = run_open_loop(workload, factory, cfg, abort_check=self.dead)
        return res, {k: v - before[k] for k, v in self._faults().items()}

    def _result(self, backend: str, res: LoadResult, faults: dict[str, int],
                discarded: list[list[CallOutcome]], engine_stall_s: float = 0.0
                ) -> ProbeResult:
        steps, replans = self._step_overheads(backend, res.outcomes)
        walls = [w for _, w, _ in res.stalls]
        # Summary columns on the measurement itself: event-loop stalls over 50 ms (a
        # client starved of CPU shows up as dispatch lag), a server's longest stalled
        # step, the probes thrown away for a stall, and major page faults.
        health = {"client_stalls": len(walls), "client_stall_max_s": max(walls, default=0.0),
                  "client_stall_cpu_s": sum(c for _, _, c in res.stalls),
                  "engine_stall_max_s": engine_stall_s, "stall_reruns": len(discarded),
                  **faults}
        return ProbeResult(outcomes=res.outcomes, step_overheads_s=steps,
                           replan_overheads_s=replans, end_time_s=res.end_s,
                           backlog_s=res.backlog_s, counters={"preemptions": 0},
                           health=health, discarded=discarded,
                           failure=res.aborted or self.dead(), interrupted=res.interrupted)

    def _step_overheads(self, backend: str,
                        outcomes: list[CallOutcome]) -> tuple[list[float], list[float]]:
        """Scheduler time per step and per re-plan (a server of ours logs them)."""
        return [], []

    def _engine_stall_s(self, backend: str) -> float:
        """The longest a server's step ran past its cost in the probe just run (a server
        of ours logs its steps; one at a URL: 0, nothing known)."""
        return 0.0

    def _server_pids(self) -> list[int]:
        """Process groups of the servers we started (none here)."""
        return []

    def _faults(self) -> dict[str, int]:
        return {"client_major_faults": client_major_faults(),
                "server_major_faults": group_major_faults(self._server_pids())}
