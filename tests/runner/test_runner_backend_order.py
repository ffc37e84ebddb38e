"""On a real engine (servers restart to change backend) a campaign runs every scenario on
one backend before the next; the simulator goes scenario by scenario."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pandas as pd

from slobench.perf.factory import build_perf_model, kv_capacity_tokens
from slobench.runner.calibration import calibrate_model
from slobench.runner.campaign import _run_campaign
from slobench.runner.config import RunConfig
from slobench.runner.sim_probe import SimSetup, run_sim_probe

GiB = 1 << 30


class SimBackedEngine:
    """Stands in for `RealEngine` where only the probe order matters: each probe runs on
    the simulator, and the backend of every probe is recorded."""

    tp, units, max_model_len = 1, 2, None

    def __init__(self) -> None:
        self.perf = build_perf_model("opt-13b", "a100", 2)
        self.setup = SimSetup(self.perf, 2, kv_capacity_tokens("opt-13b", "a100", 2),
                              80 * GiB, "a100")
        self.probes: list[tuple[str, float]] = []

    def calibrate(self, slo_scale: float | None):
        return self.perf, calibrate_model(self.perf, slo_scale)

    def describe(self) -> dict:
        return {"engine": "sim-backed"}

    def run_probe(self, backend, workload, factory, tiers):
        self.probes.append((backend, workload.sessions[-1].start_s))
        return run_sim_probe(self.setup, backend, workload, factory, tiers)

    def probe_health(self) -> dict:
        return {}

    def raise_if_fatal(self) -> None:
        return None


def test_real_engine_campaign_runs_all_scenarios_on_one_backend_first(tmp_path: Path) -> None:
    engine = SimBackedEngine()
    cfg = RunConfig(scenarios=["coding", "chatbot"], backends=["vllm", "slos"], engine="vllm",
                    gpus=2, tp=1, requests=40, out=tmp_path / "run", rel_tol=0.5)
    writer = _run_campaign(cfg, None, engine)  # type: ignore[arg-type]
    backends = [b for b, _ in engine.probes]
    switches = sum(1 for a, b in itertools.pairwise(backends) if a != b)
    assert switches == 1 and backends[0] == "vllm", backends
    summary = pd.read_parquet(writer.out_dir / "summary.parquet")
    cap = summary[summary["kind"] == "capacity"].set_index(["scenario", "backend"])
    assert len(cap) == 4
    for scenario in ("coding", "chatbot"):
        # The gain is filled in once both backends' capacities of the scenario are known.
        slos, vllm = cap.loc[(scenario, "slos")], cap.loc[(scenario, "vllm")]
        if vllm["capacity_rps"] > 0:
            assert math.isclose(slos["gain_vs_vllm"],
                                slos["capacity_rps"] / vllm["capacity_rps"])
