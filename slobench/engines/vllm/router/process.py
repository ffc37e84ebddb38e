"""Run the router as its own process (own process group, dies with slobench)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

from slobench.core.errors import EngineError
from slobench.engines.vllm.launcher import (
    _die_with_parent,
    _healthy,
    _signal_group,
    free_port,
    kill_group,
    log_tail,
)


class RouterProcess:
    """`with RouterProcess(upstreams, log) as r:` serves on r.url until the block exits."""

    def __init__(self, upstreams: list[str], log: Path, port: int | None = None,
                 host: str = "127.0.0.1", startup_timeout_s: float = 30.0) -> None:
        self.upstreams, self.log, self.host = upstreams, log, host
        self.port = port or free_port()
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{'127.0.0.1' if self.host == '0.0.0.0' else self.host}:{self.port}"

    def start(self) -> None:
        cmd = [sys.executable, "-m", "slobench.engines.vllm.router", "--host", self.host,
               "--port", str(self.port)]
        for u in self.upstreams:
            cmd += ["--upstream", u]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            if self.proc.poll() is not None:
                raise EngineError(f"router exited with code {self.proc.returncode}; log "
                                  f"{self.log}:\n{log_tail(self.log)}")
            if _healthy(self.url):
                return
            if time.monotonic() > deadline:
                raise EngineError(f"router not healthy after {self.startup_timeout_s:.0f} s; "
                                  f"log {self.log}:\n{log_tail(self.log)}")
            time.sleep(0.2)

    def dead(self) -> str | None:
        if self.proc is not None and self.proc.poll() is not None:
            return f"router exited with code {self.proc.returncode}; log {self.log}"
        return None

    def stop(self) -> None:
        if self.proc is None:
            return
        _signal_group(self.proc, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        kill_group(self.proc)
        self.proc = None

    def __enter__(self) -> RouterProcess:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
