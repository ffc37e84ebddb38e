"""The simulator twin of a real run (SPEC §10), on a run whose "real" engine is itself the
simulator with a known step-time profile: refitted from the steps the run logged, the
twin must reproduce stock vLLM's probes exactly, and write its tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slobench.campaign.campaign import run_on_engine
from slobench.campaign.config import RunConfig
from slobench.campaign.twin import replay, write_twin
from slobench.core.calibration import Calibration
from slobench.engines.sim.engine import SimSetup, run_sim_probe
from slobench.engines.vllm.plugin.steplog import StepLog, StepShape
from slobench.perf.measured import MeasuredModel
from slobench.perf.step_profile import StepProfile

TRUTH = StepProfile({"const": 0.004, "prefill_tokens": 5e-5, "decode_tokens": 6e-5,
                     "context_tokens": 3e-7, "prefill_attention": 1e-9, "draft_steps": 0})
INFO = {"kv_tokens": 65536, "max_num_scheduled_tokens": 2048, "max_num_running_reqs": 128}


class ProfiledSimEngine:
    """A stand-in real engine: probes run on the simulator with TRUTH and vLLM's limits."""

    tp, units, max_model_len, replicas = 1, 2, None, 2
    name, backend_major, parallel_probes, kv_tokens_per_replica = "vllm", True, False, None

    def __init__(self) -> None:
        points = {p: TRUTH.prefill_time(p) for p in (16, 128, 512, 1024, 2048)}
        self.perf = MeasuredModel.fit(points, TRUTH.decode_step_time(1, 64))
        self.setup = SimSetup(TRUTH, 2, INFO["kv_tokens"], 1.0, "engine",
                              vllm_limits=(2048, 128))

    def calibrate(self, slo_scale: float | None, notes=None):
        calib = Calibration(self.perf.decode_s, 0.0318, slo_scale or 1.0,
                            dict(self.perf.points), "test", "measured")
        return self.perf, calib

    def describe(self) -> dict:
        return {"engine": "vllm", "replicas": 2, "engine_info": INFO}

    def probe(self, backend, workload, factory, tiers):
        return run_sim_probe(self.setup, backend, workload, factory, tiers)

    def close(self) -> None:
        return None


def _log_steps(folder: Path, n: int = 300) -> None:
    rng = np.random.default_rng(3)
    log = StepLog(folder, "0")
    for i in range(n):
        p = int(rng.integers(0, 2048)) if i % 3 == 0 else 0
        d = int(rng.integers(1, 32))
        context = p + d * int(rng.integers(16, 2048))
        # Attention pairs logged as TRUTH predicts them (prefill x context).
        shape = StepShape(p, d, context, d + (p > 0), 0, p * context)
        log.step(float(i), 1e-4, False, 2048, shape.tokens, 0.0,
                 TRUTH.step_time(shape.prefill_tokens, d, shape.context_tokens), shape)
    log.flush()


def test_the_twin_reproduces_a_simulated_vllm_run_and_writes_its_tables(tmp_path: Path) -> None:
    cfg = RunConfig.build(scenarios=["coding"], backends=["vllm", "slos"], engine="vllm", gpus=2,
                    tp=1, rates=[1.0, 4.0, 16.0], requests=60, out=tmp_path / "run",
                    slo_scale=1.0)
    writer = run_on_engine(cfg, ProfiledSimEngine())  # type: ignore[arg-type]
    _log_steps(writer.out_dir / "steps" / "vllm")
    result = replay(writer.out_dir)
    assert result.fit is not None and result.fit.r2_test > 0.9999
    points = result.fidelity[result.fidelity["kind"] == "point"]
    assert len(points) == 6
    vllm = points[points["backend"] == "vllm"]
    assert vllm["attainment_twin"].tolist() == pytest.approx(vllm["attainment_real"].tolist())
    # The refit recovers TRUTH to about 1e-6, so latencies agree to that.
    assert vllm["ttft_p99_s_twin"].tolist() == pytest.approx(vllm["ttft_p99_s_real"].tolist(),
                                                            rel=1e-4)
    assert vllm["agrees"].all()
    caps = result.fidelity[result.fidelity["kind"] == "capacity"]
    assert set(caps["backend"]) == {"vllm", "slos"}
    assert set(result.audit["source"]) == {"real", "twin"}
    written = write_twin(writer.out_dir, result)
    assert [p.name for p in written] == ["fidelity.parquet", "audit.parquet",
                                         "twin_requests.parquet", "twin.json"]
    again = pd.read_parquet(writer.out_dir / "fidelity.parquet")
    assert {"attainment_real", "attainment_twin", "capacity_real", "capacity_twin"} <= set(again)
