"""Stops a server's process group when slobench goes away, however it goes (even SIGKILL).

`python -m slobench.engines.watchdog PGID` runs in its own session with a pipe from
slobench on stdin; it blocks reading it. End of file means slobench exited (the kernel
closes the pipe whatever killed it): the watchdog then sends SIGTERM to the group, and
SIGKILL to whatever is left after the grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

GRACE_S = 10.0


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main() -> None:
    pgid = int(sys.argv[1])
    with contextlib.suppress(OSError):
        sys.stdin.buffer.read()
    if not _alive(pgid):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while _alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


if __name__ == "__main__":
    main()
