"""Suite-wide: a run that passed must also end.

A thread or child process a test leaves behind can keep pytest from exiting after it has
printed its summary; CI then sees a step that never returns, with no name for what held
it (CI's quick suite once passed in 182 s and then sat until its 1200 s bound). So the
leftovers are named at the end of the session, and if the interpreter is still alive a
while after pytest is done, every thread's stack is dumped and the process exits with
pytest's own status: the verdict stands, the stacks say what held the exit.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
from pathlib import Path

import pytest

EXIT_GRACE_S = 60.0   # interpreter shutdown after the summary takes well under a second


def _child_processes() -> list[str]:
    """This process's live children, as 'PID command' (from /proc: no extra package)."""
    me, found = str(os.getpid()), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[1] != me or fields[0] == "Z":
                continue
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        found.append(f"{stat.parent.name} {cmd.strip()[:160]}")
    return found


def _leftovers() -> list[str]:
    threads = [f"thread {t.name!r} (not a daemon)" for t in threading.enumerate()
               if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    return threads + [f"child process {c}" for c in _child_processes()]


def _exit_if_still_alive(status: int) -> None:
    threading.Event().wait(EXIT_GRACE_S)
    sys.stderr.write(f"\npytest had not exited {EXIT_GRACE_S:.0f} s after its summary "
                     f"(status {status}); exiting now. Still alive:\n")
    for item in _leftovers():
        sys.stderr.write(f"  {item}\n")
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    sys.stderr.flush()
    os._exit(status)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._slobench_exitstatus = int(exitstatus)  # type: ignore[attr-defined]
    left = _leftovers()
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("left behind by the tests: " + "; ".join(left), yellow=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    status = int(getattr(config, "_slobench_exitstatus", 0))
    threading.Thread(target=_exit_if_still_alive, args=(status,), daemon=True,
                     name="slobench-exit-watchdog").start()
