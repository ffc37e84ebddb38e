"""Length/duration distributions: sampling follows the parameters, tokens are >= 1."""

from __future__ import annotations

import numpy as np
import pytest

from slobench.core.errors import UserInputError
from slobench.workloads.distributions import parse_distribution

SRC = "x.toml"


def dist(table):
    return parse_distribution(table, SRC, "prompt")


def test_quantiles_sample_by_inverse_cdf_interpolation():
    d = dist({"dist": "quantiles", "points": [[0.0, 10], [0.5, 500], [1.0, 8000]]})
    draws = d.sample(np.random.default_rng(0), 100_000)
    assert draws.min() >= 10 and draws.max() <= 8000
    assert np.median(draws) == pytest.approx(500, rel=0.03)
    assert d.quantile(0.25) == pytest.approx(255)  # halfway between 10 and 500
    assert d.mean() == pytest.approx(0.5 * (10 + 500) / 2 + 0.5 * (500 + 8000) / 2)
    assert draws.mean() == pytest.approx(d.mean(), rel=0.02)


def test_lognormal_has_its_median_and_respects_clip():
    d = dist({"dist": "lognormal", "median": 200, "sigma": 1.0, "min": 50, "max": 1000})
    draws = d.sample(np.random.default_rng(1), 50_000)
    assert np.median(draws) == pytest.approx(200, rel=0.03)
    assert draws.min() == 50 and draws.max() == 1000
    assert d.quantile(0.5) == pytest.approx(200)
    assert d.quantile(0.999) == 1000


def test_uniform_int_bounds_are_inclusive():
    d = dist({"dist": "uniform_int", "low": 2, "high": 4})
    draws = d.sample(np.random.default_rng(2), 10_000)
    assert set(draws.tolist()) == {2.0, 3.0, 4.0}
    assert d.quantile(0.0) == 2 and d.quantile(1.0) == 4


def test_uniform_and_fixed():
    u = dist({"dist": "uniform", "low": 0.5, "high": 1.5})
    draws = u.sample(np.random.default_rng(3), 10_000)
    assert draws.min() >= 0.5 and draws.max() <= 1.5
    assert u.mean() == 1.0
    assert dist({"dist": "fixed", "value": 7}).sample_tokens(np.random.default_rng(0), 3).tolist() \
        == [7, 7, 7]


def test_token_draws_are_integers_of_at_least_one():
    d = dist({"dist": "lognormal", "median": 1, "sigma": 2.0})
    tokens = d.sample_tokens(np.random.default_rng(4), 10_000)
    assert tokens.dtype == np.int64
    assert tokens.min() == 1


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({"dist": "zipf", "a": 2}, "prompt.dist"),
        ({"dist": "lognormal", "median": "big", "sigma": 1}, "prompt.median"),
        ({"dist": "lognormal", "median": 100, "sigma": 1, "mean": 3}, "prompt.mean"),
        ({"dist": "lognormal", "median": -5, "sigma": 1}, "prompt.median"),
        ({"dist": "fixed", "value": True}, "prompt.value"),
        ({"dist": "quantiles", "points": [[0.0, 10], [0.9, 5], [1.0, 20]]}, "prompt.points[1][1]"),
        ({"dist": "quantiles", "points": [[0.1, 10], [1.0, 20]]}, "prompt.points"),
        ({"dist": "uniform_int", "low": 5, "high": 2}, "prompt.low"),
        ({"value": 3}, "prompt.dist"),
    ],
)
def test_bad_distribution_tables_name_the_field(table, field):
    with pytest.raises(UserInputError) as err:
        dist(table)
    assert str(err.value).startswith(f"{SRC}: {field}: ")
