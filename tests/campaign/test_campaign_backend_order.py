"""On a real engine (servers restart to change backend) a campaign runs every scenario on
one backend before the next; the simulator goes scenario by scenario."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pandas as pd

from slobench.campaign.campaign import run_on_engine
from slobench.campaign.config import RunConfig


def test_real_engine_campaign_runs_all_scenarios_on_one_backend_first(
        tmp_path: Path, sim_backed_engine: type) -> None:
    engine = sim_backed_engine()
    cfg = RunConfig.build(scenarios=["coding", "chatbot"], backends=["vllm", "slos"], engine="vllm",
                    gpus=2, tp=1, requests=40, out=tmp_path / "run", rel_tol=0.5)
    writer = run_on_engine(cfg, engine)  # type: ignore[arg-type]
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
