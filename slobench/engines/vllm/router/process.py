"""Run the router as its own process (own process group, dies with slobench)."""

from __future__ import annotations

import sys
from pathlib import Path

from slobench.engines.process_group import ManagedProcess, free_port


class RouterProcess:
    """`with RouterProcess(upstreams, log) as r:` serves on r.url until the block exits."""

    def __init__(self, upstreams: list[str], log: Path, port: int | None = None,
                 host: str = "127.0.0.1", startup_timeout_s: float = 30.0) -> None:
        self.upstreams, self.log, self.host = upstreams, log, host
        self.port = port or free_port()
        self.startup_timeout_s = startup_timeout_s
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{'127.0.0.1' if self.host == '0.0.0.0' else self.host}:{self.port}"

    def start(self) -> None:
        cmd = [sys.executable, "-m", "slobench.engines.vllm.router", "--host", self.host,
               "--port", str(self.port)]
        for u in self.upstreams:
            cmd += ["--upstream", u]
        self.process = ManagedProcess("router", cmd, self.log, self.url)
        self.process.start()
        self.process.wait_ready(self.startup_timeout_s)

    def dead(self) -> str | None:
        return self.process.dead() if self.process is not None else None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def __enter__(self) -> RouterProcess:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
