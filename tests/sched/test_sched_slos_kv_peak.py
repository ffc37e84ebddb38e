"""The admitted set's KV peak: evaluated at the candidate instants a bound leaves, in
blocks, it is the very number the every-instant formula gives (admission compares it
with reservations, so a last-bit change could flip a decision)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slobench.sched.slos.kv_peak import _upper_bounds, peak_kv_tokens


def _per_instant(prompt: np.ndarray, generated: np.ndarray, output: np.ndarray,
                 finish_by: np.ndarray, now: float, fastest: float) -> np.ndarray:
    """The plain formula: every request's bound at every candidate instant, summed."""
    times = np.maximum(finish_by, now)
    grown = generated[:, None] + (times[None, :] - now) / fastest
    held = prompt[:, None] + np.minimum(output[:, None], grown)
    return (held * (finish_by[:, None] >= times[None, :])).sum(axis=0)


def _case(seed: int, n: int, ties: bool) -> tuple:
    rng = np.random.default_rng(seed)
    prompt = rng.integers(1, 4000, n).astype(float)
    generated = rng.integers(0, 600, n).astype(float)
    output = generated + rng.integers(1, 2000, n)
    finish_by = rng.uniform(0.0, 120.0, n)
    if ties:            # requests sharing a deadline (same arrival and SLOs)
        finish_by[rng.integers(0, n, n // 2)] = finish_by[0]
    return prompt, generated, output, finish_by, float(rng.uniform(0, 60)), 0.012


@pytest.mark.parametrize("n", [1, 2, 31, 32, 33, 64, 65, 66, 67, 130, 257])
@pytest.mark.parametrize("ties", [False, True])
def test_peak_is_the_every_instant_formula_bit_for_bit(n: int, ties: bool) -> None:
    for seed in range(20):
        case = _case(seed, n, ties)
        assert peak_kv_tokens(*case) == float(_per_instant(*case).max())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 800), st.integers(1, 3000),
                          st.floats(0.0, 200.0)), min_size=1, max_size=120),
       st.floats(0.0, 100.0), st.floats(0.001, 0.1))
def test_peak_matches_on_any_admitted_set(rows: list, now: float, fastest: float) -> None:
    columns = zip(*rows, strict=True)
    prompt, generated, extra, finish_by = (np.array(c, dtype=float) for c in columns)
    case = (prompt, generated, generated + extra, finish_by, now, fastest)
    assert peak_kv_tokens(*case) == float(_per_instant(*case).max())


def test_bound_is_never_below_what_an_instant_holds() -> None:
    """The pruning's premise: an instant whose bound is below a peak found holds less."""
    for seed in range(20):
        prompt, generated, output, finish_by, now, fastest = _case(seed, 200, seed % 2 == 0)
        times = np.maximum(finish_by, now)
        bound = _upper_bounds((prompt, generated, output, finish_by), times,
                              (times - now) / fastest)
        exact = _per_instant(prompt, generated, output, finish_by, now, fastest)
        assert np.all(bound >= exact - 1e-9 * exact)
        assert np.any(bound < exact.max())      # it does leave instants out


def test_nan_deadline_propagates_as_before() -> None:
    prompt, generated, output, finish_by, now, fastest = _case(0, 50, False)
    finish_by[3] = np.nan
    assert np.isnan(peak_kv_tokens(prompt, generated, output, finish_by, now, fastest))
