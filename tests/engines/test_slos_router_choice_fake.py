"""Where SLOs-Serve's router goes (`VllmEngine.routes_slos`): in front of two or more
replicas, not of one unless asked (`--router always`) or serving on a port; on fake
CPU-build vLLM servers, which serve the stub."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_gpu import CPU_BUILD, fake_vllm_python

from slobench.engines.vllm.engine import VllmEngine
from slobench.perf.measured import MeasuredModel

PERF = MeasuredModel(base_s=0.005, per_token_s=2e-4, decode_step_s=0.006, points={})


def _engine(tmp: Path, replicas: int, router: str = "auto") -> VllmEngine:
    python = fake_vllm_python(tmp / "vllm", CPU_BUILD)
    return VllmEngine("facebook/opt-125m", tmp / "out", vllm_python=str(python),
                      replicas=replicas, startup_timeout_s=60, router=router)


@pytest.mark.parametrize(("replicas", "router", "routed"), [
    (1, "auto", False), (1, "always", True), (2, "auto", True), (2, "always", True)])
def test_the_router_goes_in_front_of_two_or_more_replicas_or_when_asked(
        tmp_path: Path, replicas: int, router: str, routed: bool) -> None:
    assert _engine(tmp_path, replicas, router).routes_slos is routed


def test_serving_on_a_port_keeps_the_router_in_front_of_one(tmp_path: Path) -> None:
    engine = _engine(tmp_path, 1)
    engine.router_port = 8123                # what `slobench serve` sets
    assert engine.routes_slos


def test_an_unknown_router_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="router must be one of"):
        _engine(tmp_path, 1, "never")


@pytest.mark.parametrize(("router", "routed"), [("auto", False), ("always", True)])
def test_one_slos_replica_is_called_straight_unless_the_router_is_asked_for(
        tmp_path: Path, router: str, routed: bool) -> None:
    engine = _engine(tmp_path, 1, router)
    engine.perf = PERF                       # as calibration leaves it
    with engine:
        engine.use_backend("slos")
        servers = engine.servers
        assert servers is not None
        assert (engine.router is not None) is routed
        if routed:
            assert engine.router is not None and engine.urls == [engine.router.url]
        else:
            assert engine.urls == servers.urls
        assert engine.describe()["slos_router"] is routed
    assert engine.router is None and engine.servers is None
