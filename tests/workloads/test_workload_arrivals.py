"""Arrival processes lay out unit-rate start times with the right shape."""

from __future__ import annotations

import numpy as np
import pytest

from slobench.core.errors import UserInputError
from slobench.workloads.arrivals import Burst, GammaArrivals, Poisson, parse_arrival


def gaps_of(times):
    return np.diff(times)


def test_poisson_mean_rate_is_one_over_many_draws():
    n = 5000
    rates = [(n - 1) / Poisson().times(np.random.default_rng(seed), n)[-1] for seed in range(10)]
    assert np.mean(rates) == pytest.approx(1.0, rel=0.02)
    g = gaps_of(Poisson().times(np.random.default_rng(0), 50_000))
    assert g.std() / g.mean() == pytest.approx(1.0, rel=0.05)  # exponential gaps: CV 1


@pytest.mark.parametrize(("shape", "cv"), [(0.25, 2.0), (1.0, 1.0), (4.0, 0.5)])
def test_gamma_gap_cv_follows_burstiness(shape, cv):
    t = GammaArrivals(shape).times(np.random.default_rng(5), 100_000)
    g = gaps_of(t)
    assert g.mean() == pytest.approx(1.0, rel=0.03)
    assert g.std() / g.mean() == pytest.approx(cv, rel=0.08)


def test_burst_mean_rate_and_group_sizes():
    n, m = 60_000, 3.0
    t = Burst(m).times(np.random.default_rng(6), n)
    assert len(t) == n and t[0] == 0.0 and np.all(np.diff(t) >= 0)
    assert (n - 1) / t[-1] == pytest.approx(1.0, rel=0.04)
    _, sizes = np.unique(t, return_counts=True)  # a group shares one start time
    assert sizes.mean() == pytest.approx(m, rel=0.04)
    assert sizes.min() == 1


def test_burst_spread_keeps_groups_within_it():
    t = Burst(4.0, spread_s=0.01).times(np.random.default_rng(7), 1000)
    assert len(np.unique(t)) == 1000  # spread separates the sessions of a group
    assert np.all(np.diff(t) >= 0)


def test_processes_are_deterministic_for_a_seed_and_start_at_zero():
    for process in (Poisson(), GammaArrivals(0.5), Burst(2.0)):
        a = process.times(np.random.default_rng(11), 100)
        b = process.times(np.random.default_rng(11), 100)
        c = process.times(np.random.default_rng(12), 100)
        assert np.array_equal(a, b) and not np.array_equal(a, c)
        assert a[0] == 0.0


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({"kind": "hawkes"}, "arrival.kind"),
        ({"kind": "gamma", "burstiness": -1.0}, "arrival.burstiness"),
        ({"kind": "gamma", "burstiness": 0}, "arrival.burstiness"),
        ({"kind": "burst", "mean_group_size": 0.5}, "arrival.mean_group_size"),
        ({"kind": "burst"}, "arrival.mean_group_size"),
        ({"kind": "poisson", "rate": 3}, "arrival.rate"),
        ({"kind": "trace"}, "arrival.path"),
    ],
)
def test_bad_arrival_tables_name_the_field(table, field):
    with pytest.raises(UserInputError) as err:
        parse_arrival(table, "w.toml")
    assert str(err.value).startswith(f"w.toml: {field}: ")
