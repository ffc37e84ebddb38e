"""Managed server processes: a process group per server that dies with slobench.

Each server runs in its own process group (`process_group=0`) so that one signal to the
group reaches vLLM's engine-core children too, and a terminal's Ctrl-C reaches slobench
alone, which stops them in order. Not in a session of its own: Linux gives each session
(autogroup) its share of a core, and on a small host the sessions of vLLM's spinning
engine process (sched_yield for a second after each read) left the load generator and
the router runnable but unrun for up to 1.7 s (`/proc/<pid>/schedstat`); in slobench's
session every thread gets its fair share. The leader gets PR_SET_PDEATHSIG on Linux,
and a watchdog process (`slobench.engines.watchdog`) stops the group once our end of its
stdin pipe closes: both cover a slobench killed by SIGKILL, which no handler
sees. Shared by the local launcher, the Ray replica hosts and the router process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from slobench.core.errors import EngineError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start_watchdog(pgid: int) -> subprocess.Popen[bytes] | None:
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


def die_with_parent() -> None:
    """In the child before exec (no imports, no locks): Linux sends it SIGKILL when
    slobench dies, even by SIGKILL, which no handler sees."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL))


def kill_group(proc: subprocess.Popen[bytes], wait_s: float = 5.0) -> None:
    """SIGKILL a process group and wait (bounded) until every member is gone."""
    signal_group(proc, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=wait_s)
    end = time.monotonic() + wait_s
    while group_alive(proc) and time.monotonic() < end:
        time.sleep(0.1)


def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def group_alive(proc: subprocess.Popen[bytes]) -> bool:
    """True while any process of the server's group (its session) exists."""
    proc.poll()                       # reap the leader so a zombie does not count
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ManagedProcess:
    """One server process (a vLLM replica, the router, a test stub) in a group of its
    own that dies with slobench: ready once `GET url/health` answers 200, stopped by
    SIGTERM to the group, then SIGKILL to what is left."""

    def __init__(self, name: str, cmd: list[str], log: Path, url: str, *,
                 env: dict[str, str] | None = None, watchdog: bool = False) -> None:
        self.name, self.cmd, self.log, self.url, self.env = name, cmd, log, url, env
        self.proc: subprocess.Popen[bytes] | None = None
        self.watchdog: subprocess.Popen[bytes] | None = None
        self._with_watchdog = watchdog

    def start(self, header: bool = False) -> None:
        """Start it, its output into `log` (after the command line when `header`)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as fh:
            if header:
                fh.write(("$ " + " ".join(self.cmd) + "\n").encode())
                fh.flush()
            self.proc = subprocess.Popen(self.cmd, stdout=fh, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env,
                                         process_group=0, preexec_fn=die_with_parent)
        if self._with_watchdog:
            self.watchdog = start_watchdog(self.proc.pid)

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def ready(self) -> bool:
        """Healthy; raises EngineError (with the log's tail) when it exited instead."""
        code = self.exit_code()
        if code is not None:
            raise EngineError(f"{self.name} exited with code {code} while starting; log "
                              f"{self.log}:\n{log_tail(self.log)}")
        return healthy(self.url)

    def wait_ready(self, timeout_s: float, poll_s: float = 0.2) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if time.monotonic() > deadline:
                raise EngineError(f"{self.name} not ready after {timeout_s:.0f} s; log "
                                  f"{self.log}:\n{log_tail(self.log)}")
            time.sleep(poll_s)

    def dead(self, tail_lines: int = 0) -> str | None:
        """Why it stopped serving (it exited), else None."""
        code = self.exit_code()
        if code is None:
            return None
        tail = f":\n{log_tail(self.log, tail_lines)}" if tail_lines else ""
        return f"{self.name} ({self.url}) exited with code {code}; log {self.log}{tail}"

    def terminate(self) -> None:
        if self.proc is not None:
            signal_group(self.proc, signal.SIGTERM)

    def wait_gone(self, deadline: float) -> None:
        """Until its whole group has exited or `deadline` (monotonic) passed."""
        if self.proc is None:
            return
        while group_alive(self.proc) and time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=0.2)
            if self.proc.poll() is not None and group_alive(self.proc):
                time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL what is left of the group; its watchdog then exits too."""
        if self.proc is not None:
            kill_group(self.proc)
        if self.watchdog is not None:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                self.watchdog.communicate(timeout=5)
            self.watchdog = None

    def stop(self, grace_s: float = 5.0) -> None:
        self.terminate()
        self.wait_gone(time.monotonic() + grace_s)
        self.kill()
