"""Managed server processes: a process group per server that dies with slobench.

Each server runs in its own session (`start_new_session=True`) so that one signal to
the group reaches vLLM's engine-core children too. Its leader gets PR_SET_PDEATHSIG on
Linux, and a watchdog process (`slobench.engines.watchdog`) stops the group once our
end of its stdin pipe closes: both cover a slobench killed by SIGKILL, which no handler
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
