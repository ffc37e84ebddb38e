"""Latency populations, status shares and rate units of a probe's summary row (issue 19)."""

from __future__ import annotations

import math

import pytest

from slobench.core.outcome import Status
from slobench.metrics.records import RequestRecord
from slobench.metrics.summary import (
    Population,
    latency_column,
    point_summary,
    share_column,
)


def _record(status: Status, ttft: float, tpot: float, session: int = 0, call: int = 0,
            rate: float = 2.0) -> RequestRecord:
    return RequestRecord(
        run_id="r", scenario="s", backend="slos", engine="sim", rate=rate, replica=0,
        session_id=session, call_index=call, stage="x", request_class="s",
        scheduled_send_s=float(session), actual_send_s=float(session),
        first_token_s=session + ttft, finish_s=session + ttft + 10 * tpot, prompt_tokens=10,
        output_tokens=11, expected_output_tokens=11, ttft_s=ttft, tpot_s=tpot,
        ttft_slo_s=2.0, tpot_slo_s=0.1, attained=status is Status.OK, status=status.value)


def _mixed_probe() -> list[RequestRecord]:
    """80 ok calls (TTFT 1 s, TPOT 50 ms), 15 best-effort (100 s, 1 s), 5 rejected.

    The rejected calls carry latencies too (a real engine may stream a token before
    the verdict), so leaving them out must come from their status, not from NaNs.
    """
    records = [_record(Status.OK, 1.0, 0.05, session=i) for i in range(80)]
    records += [_record(Status.BEST_EFFORT, 100.0, 1.0, session=80 + i) for i in range(15)]
    records += [_record(Status.REJECTED, 500.0, 2.0, session=95 + i) for i in range(5)]
    return records


def test_admitted_percentiles_exclude_best_effort_and_rejected_calls() -> None:
    row = point_summary(_mixed_probe(), [], [])
    for q in (50, 90, 99):
        assert row[latency_column("ttft", q, Population.ADMITTED)] == pytest.approx(1.0)
        assert row[latency_column("tpot", q, Population.ADMITTED)] == pytest.approx(0.05)
    assert row["admitted_ttft_p99_s"] == row[latency_column("ttft", 99, Population.ADMITTED)]


def test_all_call_percentiles_keep_spec_names_and_count_every_call() -> None:
    row = point_summary(_mixed_probe(), [], [])
    assert row["ttft_p50_s"] == pytest.approx(1.0)
    assert row["ttft_p90_s"] == pytest.approx(100.0)   # best-effort calls are in the tail
    assert row["ttft_p99_s"] == pytest.approx(500.0)
    assert row["tpot_p99_s"] == pytest.approx(2.0)


def test_status_shares_are_fractions_of_all_calls() -> None:
    row = point_summary(_mixed_probe(), [], [])
    assert row[share_column(Status.OK)] == pytest.approx(0.80)
    assert row[share_column(Status.BEST_EFFORT)] == pytest.approx(0.15)
    assert row[share_column(Status.REJECTED)] == pytest.approx(0.05)
    assert row["share_error"] == 0.0 and row["share_timeout"] == 0.0
    assert row["n_best_effort"] == 15


def test_admitted_percentiles_are_nan_when_nothing_was_admitted() -> None:
    row = point_summary([_record(Status.BEST_EFFORT, 3.0, 0.2)], [], [])
    assert math.isnan(row["admitted_ttft_p99_s"]) and row["ttft_p99_s"] == pytest.approx(3.0)


def test_point_rate_is_sessions_per_second_with_calls_per_second_beside_it() -> None:
    # Two sessions of three calls each at 2 sessions/s: 6 calls/s.
    records = [_record(Status.OK, 1.0, 0.05, session=s, call=c, rate=2.0)
               for s in range(2) for c in range(3)]
    row = point_summary(records, [], [])
    assert row["rate_sessions_per_s"] == 2.0
    assert row["calls_per_session"] == pytest.approx(3.0)
    assert row["rate_calls_per_s"] == pytest.approx(6.0)
