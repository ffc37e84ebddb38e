"""Serving-capacity search (SPEC §4) on synthetic attainment curves, plus the geomean."""

from __future__ import annotations

import math
import random

import pytest

from slobench.metrics.capacity import SearchConfig, capacity_search
from slobench.report.gains import geometric_mean


def knee_curve(c: float, drop_per_c: float):
    """Attainment 1 up to c, then falling linearly (by drop_per_c per c of rate)."""
    def att(r: float) -> float:
        return 1.0 if r <= c else max(0.0, 1.0 - drop_per_c * (r - c) / c)
    # attainment == 0.9 at r = c + 0.1 * c / drop_per_c
    return att, c + 0.1 * c / drop_per_c


@pytest.mark.parametrize("c", [0.37, 1.0, 3.3, 12.5, 240.0])
@pytest.mark.parametrize("start", [0.25, 1.0, 4.0, 50.0])
@pytest.mark.parametrize("rel_tol", [0.05, 0.2])
def test_capacity_search_lands_within_rel_tol_below_true_crossing(
        c: float, start: float, rel_tol: float) -> None:
    att, crossing = knee_curve(c, drop_per_c=2.0)
    res = capacity_search(att, SearchConfig(threshold=0.9, rel_tol=rel_tol, start_rate=start))
    assert not res.hit_max_rate
    assert res.capacity <= crossing
    assert crossing <= res.capacity * (1 + rel_tol) + 1e-12
    assert att(res.capacity) >= 0.9


def test_capacity_search_all_failing_gives_zero() -> None:
    res = capacity_search(lambda r: 0.0, SearchConfig(start_rate=1.0, min_rate=0.01))
    assert res.capacity == 0.0
    assert all(a < 0.9 for _, a in res.probes)
    assert min(r for r, _ in res.probes) >= 0.01


def test_capacity_search_reports_hitting_max_rate() -> None:
    res = capacity_search(lambda r: 1.0, SearchConfig(start_rate=1.0, max_rate=100.0))
    assert res.hit_max_rate
    assert res.capacity <= 100.0 and res.capacity * 2 > 100.0


@pytest.mark.parametrize("seed", range(40))
def test_capacity_search_on_noisy_curve_returns_a_passing_rate_with_all_higher_failing(
        seed: int) -> None:
    rng = random.Random(seed)
    c = rng.uniform(0.5, 30)
    noise: dict[float, float] = {}

    def att(r: float) -> float:
        # a falling curve plus +-0.15 noise, fixed per rate: not monotone near the knee
        if r not in noise:
            noise[r] = rng.uniform(-0.15, 0.15)
        return min(1.0, max(0.0, 1.0 / (1 + (r / c) ** 4) + noise[r]))

    cfg = SearchConfig(threshold=0.9, rel_tol=0.05, start_rate=rng.choice([0.5, 2.0, 8.0]))
    res = capacity_search(att, cfg)
    if res.capacity == 0.0:
        assert all(a < 0.9 for _, a in res.probes)
        return
    passed = {r for r, a in res.probes if a >= cfg.threshold}
    assert res.capacity in passed
    assert all(a < cfg.threshold for r, a in res.probes if r > res.capacity)
    assert len(res.probes) <= cfg.max_probes


@pytest.mark.parametrize("values", [[2.0], [1.0, 4.0], [1.5, 2.2, 0.8, 3.1, 1.0, 2.0]])
def test_geometric_mean_is_nth_root_of_product(values: list[float]) -> None:
    expected = math.prod(values) ** (1 / len(values))
    assert geometric_mean(values) == pytest.approx(expected, rel=1e-12)


def test_geometric_mean_skips_nan_and_zero_gives_zero() -> None:
    assert geometric_mean([4.0, math.nan, 1.0]) == pytest.approx(2.0)
    assert geometric_mean([3.0, 0.0]) == 0.0
    assert math.isnan(geometric_mean([]))
    with pytest.raises(ValueError):
        geometric_mean([1.0, -2.0])
