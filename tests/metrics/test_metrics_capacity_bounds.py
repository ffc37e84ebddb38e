"""A capacity search that ends at its own edge records a bound, not a measurement."""

from __future__ import annotations

import pytest

from slobench.metrics.capacity import CapacityBound, SearchConfig, bound_text, capacity_search
from slobench.metrics.summary import capacity_summary


def test_a_search_that_never_fails_records_at_least_its_highest_rate() -> None:
    res = capacity_search(lambda r: 1.0, SearchConfig(start_rate=1.0, max_rate=100.0))
    assert res.bound is CapacityBound.AT_LEAST and res.hit_max_rate
    assert res.capacity == max(r for r, _ in res.probes) == 64.0
    assert res.bound_rate == 64.0
    assert bound_text(res.bound_rate, res.bound) == "≥ 64"


def test_a_search_that_never_passes_records_below_its_lowest_rate() -> None:
    res = capacity_search(lambda r: 0.0, SearchConfig(start_rate=1.0, min_rate=0.2))
    assert res.bound is CapacityBound.BELOW and not res.hit_max_rate
    assert res.capacity == 0.0
    assert res.bound_rate == min(r for r, _ in res.probes) == 0.25
    assert bound_text(res.bound_rate, res.bound) == "< 0.25"


def test_a_search_with_a_failing_rate_above_a_passing_one_is_measured() -> None:
    res = capacity_search(lambda r: 1.0 if r <= 3.0 else 0.0, SearchConfig(start_rate=1.0))
    assert res.bound is CapacityBound.MEASURED
    assert bound_text(res.bound_rate, res.bound) == format(res.capacity, ".3g")


def test_capacity_row_is_in_sessions_per_second_with_calls_per_second_beside_it() -> None:
    res = capacity_search(lambda r: 1.0 if r <= 3.0 else 0.0,
                          SearchConfig(start_rate=1.0, rel_tol=0.01))
    row = capacity_summary(res, gpus=4, calls_per_session=3.5)
    assert row["capacity_rps_per_gpu"] == row["capacity_sessions_per_s_per_gpu"] == pytest.approx(
        res.capacity / 4)
    assert row["capacity_calls_per_s_per_gpu"] == pytest.approx(res.capacity * 3.5 / 4)
    assert row["capacity_bound"] == "measured"


def test_capacity_row_of_a_search_that_never_passes_keeps_zero_and_states_the_bound() -> None:
    res = capacity_search(lambda r: 0.0, SearchConfig(start_rate=2.0, min_rate=0.5))
    row = capacity_summary(res, gpus=2, calls_per_session=1.0)
    assert row["capacity_rps_per_gpu"] == 0.0
    assert row["capacity_bound"] == "below"
    assert row["capacity_bound_sessions_per_s_per_gpu"] == pytest.approx(0.5 / 2)
