"""`run_campaign` on the sim engine writes SPEC §8's requests.parquet and summary.parquet."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from slobench.campaign.campaign import run_campaign
from slobench.campaign.config import RunConfig
from slobench.workloads.generate import generate
from slobench.workloads.scenario import load_scenario

REQUEST_COLS = ["scenario", "backend", "engine", "rate", "status", "attained", "prompt_tokens",
                "output_tokens", "ttft_s", "tpot_s"]
SUMMARY_COLS = ["scenario", "backend", "engine", "rate", "attainment", "capacity_rps_per_gpu",
                "ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s",
                "sched_overhead_p50_ms", "sched_overhead_p99_ms", "gpus"]
STATUSES = {"ok", "rejected", "best_effort", "error", "timeout"}


@pytest.fixture(scope="module")
def rates_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "D"
    run_campaign(RunConfig.build(scenarios=["coding"], backends=["vllm"], rates=[2.0, 8.0],
                           requests=50, out=out))
    return out


def test_fixed_rate_run_writes_one_request_row_per_call_per_rate(rates_run: Path) -> None:
    req = pd.read_parquet(rates_run / "requests.parquet")
    calls = generate(load_scenario("coding"), 50, 0, 16384).num_calls
    assert len(req) == 2 * calls
    assert sorted(req.groupby("rate").size().to_dict().items()) == [(2.0, calls), (8.0, calls)]
    assert set(REQUEST_COLS) <= set(req.columns)
    assert set(req["status"]) <= STATUSES
    assert (req["scenario"] == "coding").all() and (req["backend"] == "vllm").all()
    assert (req["engine"] == "sim").all()
    assert req["attained"].dtype == bool
    ok = req[req["status"] == "ok"]
    assert len(ok) > 0
    assert ok["ttft_s"].notna().all() and (ok["ttft_s"] > 0).all()
    assert (ok["output_tokens"] == ok["expected_output_tokens"]).all()
    # TPOT follows SPEC §4's formula wherever there are two tokens or more
    multi = ok[ok["output_tokens"] >= 2]
    tpot = (multi["finish_s"] - multi["first_token_s"]) / (multi["output_tokens"] - 1)
    assert ((tpot - multi["tpot_s"]).abs() <= 1e-9).all()
    assert (ok["ttft_s"] - (ok["first_token_s"] - ok["scheduled_send_s"])).abs().max() <= 1e-9


def test_fixed_rate_run_writes_one_summary_row_per_backend_and_rate(rates_run: Path) -> None:
    summ = pd.read_parquet(rates_run / "summary.parquet")
    assert set(SUMMARY_COLS) <= set(summ.columns)
    points = summ[summ["kind"] == "point"]
    assert len(points) == 2
    assert sorted(zip(points["backend"], points["rate"], strict=True)) == [("vllm", 2.0),
                                                                            ("vllm", 8.0)]
    assert (summ["kind"] == "capacity").sum() == 0  # fixed rates: no capacity search
    req = pd.read_parquet(rates_run / "requests.parquet")
    for _, row in points.iterrows():
        at_rate = req[req["rate"] == row["rate"]]
        # single-call scenario: per-session attainment is the share of requests attaining
        assert row["attainment"] == pytest.approx(at_rate["attained"].mean())
        assert row["gpus"] == 4
        assert 0.0 <= row["attainment"] <= 1.0


def test_capacity_run_writes_capacity_per_gpu_rows(tmp_path: Path) -> None:
    out = tmp_path / "C"
    cfg = RunConfig.build(scenarios=["coding"], backends=["vllm", "sarathi"], requests=60,
                    rel_tol=0.2, out=out)
    run_campaign(cfg)
    summ = pd.read_parquet(out / "summary.parquet")
    cap = summ[summ["kind"] == "capacity"]
    assert sorted(cap["backend"]) == ["sarathi", "vllm"]
    for _, row in cap.iterrows():
        assert row["gpus"] == cfg.gpus
        assert row["capacity_rps_per_gpu"] == pytest.approx(row["capacity_rps"] / cfg.gpus)
        points = summ[(summ["kind"] == "point") & (summ["backend"] == row["backend"])]
        if row["capacity_rps"] > 0:
            # the capacity is a probed rate that held the threshold ...
            at_cap = points[points["rate"] == row["capacity_rps"]]
            assert len(at_cap) >= 1 and (at_cap["attainment"] >= cfg.search.threshold).all()
            # ... and every probed rate above it failed
            above = points[points["rate"] > row["capacity_rps"]]
            assert (above["attainment"] < cfg.search.threshold).all()
    vllm_cap = cap[cap["backend"] == "vllm"]["capacity_rps"].iloc[0]
    sarathi = cap[cap["backend"] == "sarathi"].iloc[0]
    if vllm_cap > 0:
        assert sarathi["gain_vs_vllm"] == pytest.approx(sarathi["capacity_rps"] / vllm_cap)
    else:
        assert math.isnan(sarathi["gain_vs_vllm"])
