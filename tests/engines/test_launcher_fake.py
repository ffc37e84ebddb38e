"""The vLLM launcher against a fake `vllm.entrypoints.launchers.api_server.entry` (what
`vllm serve` runs; fast, no vLLM):
readiness, the log tail on failure, and no process left on any exit path."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from slobench.core.errors import EngineError
from slobench.engines.vllm.launcher import LaunchSpec, VllmServers, find_vllm_python

FAKE_SERVER = textwrap.dedent('''
    import argparse, http.server, os, subprocess, sys
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int)
    ap.add_argument("--mode", default="ok")
    args, _ = ap.parse_known_args()
    print("fake vllm starting", sys.argv[1:], flush=True)
    if args.mode == "crash":
        print("RuntimeError: no CPU attention for head size 48", flush=True)
        sys.exit(3)
    # A child like vLLM's engine core: it must die with the server's process group.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open(os.environ["FAKE_CHILD_PID_FILE"] + str(args.port), "w").write(str(child.pid))
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ok = args.mode != "never_ready"
            self.send_response(200 if ok else 503)
            self.end_headers()
        def log_message(self, *a):
            pass
    http.server.HTTPServer(("127.0.0.1", args.port), H).serve_forever()
''')


@pytest.fixture
def fake_vllm(tmp_path: Path) -> Path:
    pkg = tmp_path / "fake" / "vllm" / "entrypoints" / "launchers" / "api_server"
    pkg.mkdir(parents=True)
    for d in (pkg, pkg.parent, pkg.parent.parent, pkg.parent.parent.parent):
        (d / "__init__.py").write_text("")
    (pkg / "entry.py").write_text(FAKE_SERVER)
    return tmp_path / "fake"


def _spec(fake: Path, tmp_path: Path, mode: str = "ok", replicas: int = 1,
          timeout: float = 30.0) -> LaunchSpec:
    return LaunchSpec(python=sys.executable, model="m", replicas=replicas,
                      extra_args=["--mode", mode], log_dir=tmp_path / "run",
                      startup_timeout_s=timeout, stop_grace_s=3.0,
                      env={"PYTHONPATH": str(fake),
                           "FAKE_CHILD_PID_FILE": str(tmp_path / "child-")})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def _children(tmp_path: Path) -> list[int]:
    return [int(p.read_text()) for p in tmp_path.glob("child-*")]


def test_start_ready_and_stop_kills_the_group(fake_vllm: Path, tmp_path: Path) -> None:
    with VllmServers(_spec(fake_vllm, tmp_path, replicas=2)) as servers:
        assert len(servers.urls) == 2 and servers.urls[0] != servers.urls[1]
        leaders = [s.proc.pid for s in servers.servers]
        assert servers.dead() is None
    kids = _children(tmp_path)
    assert len(kids) == 2
    assert not any(_alive(p) for p in leaders + kids)
    log = (tmp_path / "run" / "server-0.log").read_text()
    assert "--mode ok" in log and "fake vllm starting" in log


def test_crash_at_start_reports_the_log_tail(fake_vllm: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="head size 48"), \
            VllmServers(_spec(fake_vllm, tmp_path, "crash")):
        pass


def test_not_ready_in_time_is_an_error_and_leaves_nothing(fake_vllm: Path,
                                                          tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="not ready after"), \
            VllmServers(_spec(fake_vllm, tmp_path, "never_ready", timeout=3)):
        pass
    assert not any(_alive(p) for p in _children(tmp_path))


def test_ctrl_c_inside_the_block_stops_everything(fake_vllm: Path, tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), VllmServers(_spec(fake_vllm, tmp_path)) as servers:
        leader = servers.servers[0].proc.pid
        raise KeyboardInterrupt
    assert not _alive(leader)
    assert not any(_alive(p) for p in _children(tmp_path))


def test_dead_server_is_noticed(fake_vllm: Path, tmp_path: Path) -> None:
    with VllmServers(_spec(fake_vllm, tmp_path)) as servers:
        servers.servers[0].proc.kill()
        servers.servers[0].proc.wait()
        msg = servers.dead()
        assert msg is not None and "exited with code -9" in msg
    assert not any(_alive(p) for p in _children(tmp_path))


def test_find_vllm_python_prefers_explicit_then_env(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    assert find_vllm_python(sys.executable) == sys.executable
    assert find_vllm_python(str(tmp_path / "missing")) is None
    monkeypatch.setenv("SLOBENCH_VLLM_PYTHON", sys.executable)
    assert find_vllm_python() == sys.executable


PARENT = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from slobench.engines.vllm.launcher import LaunchSpec, VllmServers
    fake, tmp = sys.argv[1], Path(sys.argv[2])
    spec = LaunchSpec(python=sys.executable, model="m", log_dir=tmp / "run",
                      env={"PYTHONPATH": fake, "FAKE_CHILD_PID_FILE": str(tmp / "child-")})
    with VllmServers(spec) as s:
        (tmp / "leader").write_text(str(s.servers[0].proc.pid))
        time.sleep(600)
''')


def test_sigkilled_slobench_leaves_no_server(fake_vllm: Path, tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(fake_vllm), str(tmp_path)])
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "leader").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        leader = int((tmp_path / "leader").read_text())
        pids = [leader, *_children(tmp_path)]
        assert all(_alive(p) for p in pids)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)
