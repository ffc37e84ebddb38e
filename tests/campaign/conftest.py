"""Test tools for the campaign tests: an engine that stands in for `VllmEngine`."""

from __future__ import annotations

import pytest

from slobench.core.calibration import calibrate_model
from slobench.engines.sim.engine import SimSetup, run_sim_probe
from slobench.perf.factory import build_perf_model, kv_capacity_tokens

GiB = 1 << 30


class SimBackedEngine:
    """Stands in for `VllmEngine` where only the probe order matters: each probe runs on
    the simulator, and the backend of every probe is recorded."""

    tp, units, max_model_len = 1, 2, None
    name, backend_major, parallel_probes, kv_tokens_per_replica = "vllm", True, False, None

    def __init__(self) -> None:
        self.perf = build_perf_model("opt-13b", "a100", 2)
        self.setup = SimSetup(self.perf, 2, kv_capacity_tokens("opt-13b", "a100", 2),
                              80 * GiB, "a100")
        self.probes: list[tuple[str, float]] = []

    def calibrate(self, slo_scale: float | None, notes=None):
        return self.perf, calibrate_model(self.perf, slo_scale)

    def describe(self) -> dict:
        return {"engine": "sim-backed"}

    def probe(self, backend, workload, factory, tiers):
        self.probes.append((backend, workload.sessions[-1].start_s))
        return run_sim_probe(self.setup, backend, workload, factory, tiers)

    def close(self) -> None:
        return None



@pytest.fixture
def sim_backed_engine() -> type[SimBackedEngine]:
    return SimBackedEngine
