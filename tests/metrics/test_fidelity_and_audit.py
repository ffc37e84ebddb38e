"""Fidelity tables and the admission audit (SPEC §10), on small hand-made frames."""

from __future__ import annotations

import pandas as pd
import pytest

from slobench.metrics.audit import admission_audit
from slobench.metrics.fidelity import crossing_capacity, fidelity_capacities, fidelity_points


def test_crossing_capacity_interpolates_where_attainment_crosses_the_threshold() -> None:
    cap, bound = crossing_capacity([(1, 1.0), (2, 0.95), (4, 0.75), (8, 0.1)], 0.9)
    assert bound == "measured" and cap == pytest.approx(2 + 2 * 0.05 / 0.20)
    assert crossing_capacity([(1, 0.95), (2, 0.91)], 0.9) == (2, "at_least")
    assert crossing_capacity([(1, 0.5), (2, 0.1)], 0.9) == (0.0, "below")


def _point(backend: str, rate: float, att: float, rejected: int = 0) -> dict:
    return {"scenario": "coding", "backend": backend, "rate": rate, "attainment": att,
            "ttft_p50_s": 0.1, "ttft_p99_s": 0.5, "tpot_p50_s": 0.02, "tpot_p99_s": 0.05,
            "num_requests": 10, "n_rejected": rejected, "n_best_effort": 0}


def test_points_pair_real_and_twin_and_flag_gaps_beyond_tolerance() -> None:
    real = pd.DataFrame([_point("vllm", 1, 0.9), _point("vllm", 2, 0.9, rejected=2)])
    twin = pd.DataFrame([_point("vllm", 1, 0.8), _point("vllm", 2, 0.5)])
    fid = fidelity_points(real, twin)
    assert fid["agrees"].tolist() == [True, False]
    assert fid["rejected_share_real"].tolist() == [0.0, 0.2]
    assert fid["attainment_gap"].round(6).tolist() == [-0.1, -0.4]


def test_capacities_agree_within_25_percent_and_the_same_bound() -> None:
    fid = fidelity_capacities({("c", "vllm"): (1.0, "measured"), ("c", "slos"): (1.0, "measured"),
                               ("c", "x"): (2.0, "measured")},
                              {("c", "vllm"): (1.2, "measured"), ("c", "slos"): (1.3, "measured"),
                               ("c", "x"): (2.0, "at_least")})
    assert dict(zip(fid["backend"], fid["agrees"], strict=True)) == {
        "slos": False, "vllm": True, "x": False}


def _req(backend: str, sid: int, status: str, attained: bool, why: str = "") -> dict:
    return {"scenario": "coding", "backend": backend, "rate": 1.0, "session_id": sid,
            "call_index": 0, "status": status, "attained": attained, "admission_reason": why}


def test_a_false_reject_is_one_vllm_served_within_its_slo() -> None:
    rows = [_req("vllm", 0, "ok", True), _req("slos", 0, "rejected", False, "ttft"),
            _req("vllm", 1, "ok", False), _req("slos", 1, "best_effort", False, "busy"),
            _req("vllm", 2, "ok", True), _req("slos", 2, "ok", True),
            _req("vllm", 3, "ok", True), _req("slos", 3, "rejected", False, "ttft")]
    audit = admission_audit(pd.DataFrame(rows))
    row = audit.iloc[0]
    assert (row["calls"], row["turned_away"], row["false_rejects"]) == (4, 3, 2)
    assert row["false_reject_share"] == 0.5
    assert row["reasons"] == "ttft 2, busy 1" and row["false_reasons"] == "ttft 2"


def test_a_best_effort_call_that_made_its_slo_is_no_false_reject() -> None:
    rows = [_req("vllm", 0, "ok", True), _req("slos", 0, "best_effort", True, "busy"),
            _req("vllm", 1, "ok", True), _req("slos", 1, "best_effort", False, "busy")]
    row = admission_audit(pd.DataFrame(rows)).iloc[0]
    assert (row["turned_away"], row["false_rejects"]) == (2, 1)
