"""The load generator locks its memory so idle pages cannot be reclaimed under it."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

SCRIPT = """
from slobench.loadgen.memlock import lock_memory
first, again = lock_memory(), lock_memory()
locked = [l for l in open('/proc/self/status') if l.startswith('VmLck')][0].split()[1]
print(first, again, locked)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mlockall is Linux's")
def test_lock_memory_locks_the_process_pages_once() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         check=True).stdout.split()
    first, again, locked_kb = out[0] == "True", out[1] == "True", int(out[2])
    assert first == again                         # idempotent: one attempt per process
    if first:
        assert locked_kb > 0
    else:                                         # not allowed here: nothing changed
        assert locked_kb == 0 and soft != resource.RLIM_INFINITY
