"""Keep a latency-measuring process's memory resident (Linux `mlockall`).

Some hosts reclaim memory that has not been touched for a while even with plenty free
(this project's CI VM runs DAMON with a `pageout` scheme): a load generator idling
between low-rate arrivals could then wake into major page faults, and every request it
was due to send meanwhile would count as slow against the server. Locking the client's
pages rules that out; it changes nothing about the server being measured. (It does not
help against stalls of the whole machine, which this VM also shows: the load
generator's stall log in summary.parquet keeps those visible.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

MCL_CURRENT, MCL_FUTURE = 1, 2
_locked: bool | None = None


def lock_memory() -> bool:
    """Lock this process's current and future pages in RAM, once; False where the OS
    or the process's limits do not allow it (then nothing changes)."""
    global _locked
    if _locked is None:
        _locked = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
                _locked = libc.mlockall(MCL_CURRENT | MCL_FUTURE) == 0
            except OSError:
                _locked = False
    return _locked
