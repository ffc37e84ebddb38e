"""A probe the load generator's own stall spoiled is run again and recorded (SPEC §10),
through the real openai engine against the stub server (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from slobench.campaign.campaign import run_on_engine
from slobench.campaign.config import RunConfig
from slobench.core.outcome import Status
from slobench.engines.http.engine import OpenAIEngine
from slobench.engines.http.probe_policy import ProbePolicy
from tests.support.stub_server import running_stub


class StallOnce:
    """A prompt maker that blocks the event loop for `stall_s` on its n-th call once armed:
    a real stall of the client's loop, as a host pause would cause."""

    def __init__(self, inner: Callable[[int, int], object], nth: int, stall_s: float) -> None:
        self.inner, self.nth, self.stall_s = inner, nth, stall_s
        self.armed, self.calls, self.fired = False, 0, False

    def __call__(self, n: int, seed: int) -> object:
        if self.armed and not self.fired:
            self.calls += 1
            if self.calls == self.nth:
                self.fired = True
                time.sleep(self.stall_s)
        return self.inner(n, seed)


def test_a_stalled_probe_is_run_again_and_the_rerun_recorded(tmp_path: Path) -> None:
    with running_stub(0.02, 0.005) as url:
        engine = OpenAIEngine(url, "stub", tmp_path, request_timeout_s=30,
                              probe_policy=ProbePolicy(warm_requests=2, stall_threshold_s=0.3,
                                                     max_stall_reruns=2))
        with engine:
            stall = StallOnce(engine.prompt_maker, nth=8, stall_s=1.0)
            engine.prompt_maker = stall                      # type: ignore[method-assign]
            calibrate = engine.calibrate

            def calibrate_then_arm(scale: float | None, notes=None):
                out = calibrate(scale, notes)
                stall.armed = True                            # stall inside the probe only
                return out

            engine.calibrate = calibrate_then_arm             # type: ignore[method-assign]
            cfg = RunConfig.build(scenarios=["coding"], backends=["vllm"], engine="openai",
                            url=url, gpus=1, tp=1, rates=[4.0], requests=12,
                            out=tmp_path / "run", slo_scale=1.0)
            writer = run_on_engine(cfg, engine)
    assert stall.fired
    summary = pd.read_parquet(writer.out_dir / "summary.parquet")
    point = summary[summary["kind"] == "point"].iloc[0]
    assert point["stall_reruns"] == 1
    assert point["client_stall_max_s"] < 0.3            # the kept probe is the clean one
    kept = pd.read_parquet(writer.out_dir / "requests.parquet")
    assert len(kept) == 12 and (kept["status"] == Status.OK).all()
    stalled = pd.read_parquet(writer.out_dir / "stalled_requests.parquet")
    assert len(stalled) == 12                            # the spoiled probe, kept apart
    assert stalled["dispatch_lag_s"].max() > 0.5         # the stall shows in its lag


class ServerStalledOnce(OpenAIEngine):
    """The openai engine over a server whose steps (as a server of ours logs them) show a
    host stall in the first probe only."""

    def __init__(self, *args: object, stall_s: float, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)            # type: ignore[arg-type]
        self.stall_s, self.asked = stall_s, 0

    def _engine_stall_s(self, backend: str) -> float:
        self.asked += 1
        return self.stall_s if self.asked == 1 else 0.0


def test_a_probe_a_servers_stall_spoiled_is_run_again_and_recorded(tmp_path: Path) -> None:
    with running_stub(0.02, 0.005) as url:
        engine = ServerStalledOnce(url, "stub", tmp_path, request_timeout_s=30, stall_s=0.9,
                                   probe_policy=ProbePolicy(warm_requests=2,
                                                            stall_threshold_s=0.3,
                                                            max_stall_reruns=2))
        with engine:
            cfg = RunConfig.build(scenarios=["coding"], backends=["vllm"], engine="openai",
                                  url=url, gpus=1, tp=1, rates=[4.0], requests=12,
                                  out=tmp_path / "run", slo_scale=1.0)
            writer = run_on_engine(cfg, engine)
    assert engine.asked == 2
    point = pd.read_parquet(writer.out_dir / "summary.parquet").query("kind == 'point'").iloc[0]
    assert point["stall_reruns"] == 1
    assert point["engine_stall_max_s"] == 0.0           # the kept probe is the clean one
    assert len(pd.read_parquet(writer.out_dir / "stalled_requests.parquet")) == 12
