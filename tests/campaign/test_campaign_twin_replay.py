"""The simulator twin of a real run (SPEC §10), on a run whose "real" engine is itself the
simulator with a known step-time profile: refitted from the steps the run logged, the
twin must reproduce stock vLLM's probes exactly, and write its tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slobench.campaign.campaign import run_on_engine
from slobench.campaign.config import RunConfig
from slobench.campaign.twin import plan_model, replay, write_twin
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


def _log_refits(folder: Path, inflations: list[tuple[float, float, float]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "replica-0.requests.jsonl").open("w") as fh:
        fh.write(json.dumps({"event": "added", "id": "x", "t": 0.0}) + "\n")
        for k, (prefill, decode, one) in enumerate(inflations):
            fh.write(json.dumps({"event": "perf_model", "t": float(k), "coef": [0.0] * 7,
                                 "inflation": prefill, "inflation_decode": decode,
                                 "inflation_one": one}) + "\n")


def test_the_twin_plans_at_the_inflations_the_plugin_logged(tmp_path: Path) -> None:
    """The plugin's online model covers its own recent error; the twin plans on the
    median of what it logged, not on one whole-run quantile of another profile."""
    _log_refits(tmp_path / "slos", [(1.1, 1.0, 1.3), (1.2, 1.4, 1.5), (2.0, 1.1, 1.6)])
    steps = pd.DataFrame({"prefill_tokens": [2048, 0], "decode_tokens": [1, 1],
                          "context_tokens": [2048, 100], "step_s": [9.0, 9.0]})
    model = plan_model(TRUTH, steps, tmp_path / "slos")
    assert (model.inflation, model.inflation_decode, model.inflation_one) == (1.2, 1.1, 1.5)
    assert model.step_time(256, 2, 1000) == pytest.approx(1.2 * TRUTH.step_time(256, 2, 1000))
    assert model.one_step_model().step_time(256, 2, 1000) == pytest.approx(
        1.5 * TRUTH.step_time(256, 2, 1000))


def test_without_logged_refits_the_twin_reads_the_plugins_rules_off_the_steps(
        tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    rows = []
    for k in range(400):
        p = 2048 if k % 2 else 0
        context = p + int(rng.integers(16, 4000))
        slow = 1.0 + 0.3 * rng.random() if p else 1.0
        rows.append((p, 1, context, slow * TRUTH.step_time(p, 1, context)))
    steps = pd.DataFrame(rows, columns=["prefill_tokens", "decode_tokens", "context_tokens",
                                        "step_s"])
    model = plan_model(TRUTH, steps, tmp_path / "none")
    assert model.inflation_decode == pytest.approx(1.0)
    assert 1.0 < model.inflation_one <= model.inflation <= 1.3   # the 95th, the 99th
