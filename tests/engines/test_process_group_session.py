"""A managed server gets its own process group (one signal stops it and its children)
but stays in slobench's session, so the scheduler does not give it a session's share
of its own (the router starved beside vLLM's spinning engine when it had one)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from slobench.engines.process_group import ManagedProcess

CHILD = "import os, time; print(os.getsid(0), os.getpgid(0), flush=True); time.sleep(30)"


def _ids(log: Path) -> list[int]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        words = log.read_text().split() if log.exists() else []
        if len(words) == 2:
            return [int(w) for w in words]
        time.sleep(0.05)
    raise AssertionError(f"the child wrote no ids to {log}")


def test_a_server_leads_its_own_process_group_in_slobenchs_session(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    proc = ManagedProcess("child", [sys.executable, "-c", CHILD], log, "http://127.0.0.1:9",
                          watchdog=False)
    proc.start()
    try:
        sid, pgid = _ids(log)
        assert proc.proc is not None
        assert pgid == proc.proc.pid != os.getpgid(0)
        assert sid == os.getsid(0)
    finally:
        proc.kill()
    assert proc.exit_code() is not None
