"""The paper's per-token SLO attainment rule (SPEC §4) on hand-built token times."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slobench.core import deadlines
from slobench.core.deadlines import token_deadline, token_deadline_offset
from slobench.core.request import SchedRequest
from slobench.metrics import attainment
from slobench.metrics.attainment import (
    TOLERANCE,
    call_attains,
    token_deadline_offsets,
    tpot_of,
)

EPS = 1e-6


def schedule(t0: float, n: int, tpot: float, scale: float = 1.0) -> list[float]:
    """Token times t0, t0 + scale*tpot, ... (n tokens)."""
    return [t0 + scale * tpot * k for k in range(n)]


def test_tolerance_is_five_percent() -> None:
    assert pytest.approx(1.05) == TOLERANCE


def test_request_on_time_on_average_but_late_mid_stream_fails() -> None:
    arrival, ttft_slo, tpot = 10.0, 1.0, 0.1
    first = arrival + ttft_slo  # t0 = first token
    times = schedule(first, 4, tpot)          # tokens 1-4 on schedule
    times.append(first + 1.05 * tpot * 4 + 0.05)  # token 5 late by 50 ms
    times += [times[-1] + 0.001 * k for k in range(1, 6)]  # then a fast burst: 10 tokens
    assert len(times) == 10
    assert tpot_of(times[0], times[-1], len(times)) < tpot  # on time on average
    assert not call_attains(arrival, ttft_slo, times, ((1, tpot),), len(times))
    # the same stream without the stall attains
    smooth = schedule(first, 10, tpot)
    assert call_attains(arrival, ttft_slo, smooth, ((1, tpot),), 10)


@pytest.mark.parametrize("ttft_slo", [0.2, 1.0, 3.7])
def test_ttft_tolerance_boundary(ttft_slo: float) -> None:
    arrival = 5.0
    inside = [arrival + ttft_slo * TOLERANCE * (1 - EPS)]
    outside = [arrival + ttft_slo * TOLERANCE * (1 + EPS)]
    assert call_attains(arrival, ttft_slo, inside, ((1, 0.05),), 1)
    assert not call_attains(arrival, ttft_slo, outside, ((1, 0.05),), 1)


@pytest.mark.parametrize("late_token", [2, 5, 20])
@pytest.mark.parametrize("tpot", [0.05, 0.1])
def test_per_token_tolerance_boundary(late_token: int, tpot: float) -> None:
    arrival, ttft_slo, n = 0.0, 0.5, 20
    t0 = arrival + ttft_slo
    # every token exactly at its tolerated deadline, just inside
    ok = [t0 + TOLERANCE * tpot * k * (1 - EPS) for k in range(n)]
    assert call_attains(arrival, ttft_slo, ok, ((1, tpot),), n)
    late = list(ok)
    k = late_token - 1
    late[k] = t0 + TOLERANCE * tpot * k * (1 + EPS)
    assert not call_attains(arrival, ttft_slo, late, ((1, tpot),), n)


def test_early_first_token_gives_slack_to_later_tokens() -> None:
    arrival, ttft_slo, tpot = 0.0, 1.0, 0.1
    first = 0.1  # 0.9 s early
    # token 2 long after first + tpot, but within arrival + TTFT SLO + 1.05 tpot
    times = [first, arrival + ttft_slo + TOLERANCE * tpot * (1 - EPS)]
    assert times[1] - times[0] > 5 * tpot
    assert call_attains(arrival, ttft_slo, times, ((1, tpot),), 2)
    times[1] = arrival + ttft_slo + TOLERANCE * tpot * (1 + EPS)
    assert not call_attains(arrival, ttft_slo, times, ((1, tpot),), 2)


def test_late_first_token_shifts_the_per_token_deadlines() -> None:
    arrival, ttft_slo, tpot = 0.0, 1.0, 0.1
    first = arrival + ttft_slo * 1.04  # late, within the TTFT tolerance
    # token 2 past arrival + TTFT + 1.05 tpot but within first + 1.05 tpot
    t2 = first + TOLERANCE * tpot * (1 - EPS)
    assert t2 > arrival + ttft_slo + TOLERANCE * tpot
    assert call_attains(arrival, ttft_slo, [first, t2], ((1, tpot),), 2)
    assert not call_attains(arrival, ttft_slo,
                            [first, first + TOLERANCE * tpot * (1 + EPS)], ((1, tpot),), 2)


def test_phases_each_judge_their_tokens_with_their_own_tpot() -> None:
    # Reasoning: tokens 1-5 think at 50 ms, tokens 6-10 answer at 100 ms.
    phases = ((1, 0.05), (6, 0.1))
    gaps = [0.0] + [0.05] * 4 + [0.1] * 5  # gap before token k (k = 1..10)
    arrival, ttft_slo = 0.0, 0.3
    t0 = arrival + ttft_slo
    ideal = list(np.cumsum(gaps) * TOLERANCE * (1 - EPS) + t0)
    assert call_attains(arrival, ttft_slo, ideal, phases, 10)
    # Thinking tokens at 100 ms spacing break the 50 ms phase ...
    slow_think = [t0 + 0.1 * k for k in range(10)]
    assert not call_attains(arrival, ttft_slo, slow_think, phases, 10)
    # ... while answer tokens at 100 ms are fine, even though 50 ms would reject them.
    assert not call_attains(arrival, ttft_slo, ideal, ((1, 0.05),), 10)
    # A late answer token fails.
    late = list(ideal)
    late[7] = t0 + TOLERANCE * sum(gaps[:8]) * (1 + EPS)
    assert not call_attains(arrival, ttft_slo, late, phases, 10)


def test_fewer_tokens_than_expected_never_attains() -> None:
    times = schedule(0.5, 5, 0.01)
    assert call_attains(0.0, 1.0, times, ((1, 0.05),), 5)
    assert not call_attains(0.0, 1.0, times, ((1, 0.05),), 6)
    assert not call_attains(0.0, 1.0, [], ((1, 0.05),), 0)


def test_tpot_is_span_over_tokens_minus_one() -> None:
    assert tpot_of(1.0, 2.0, 11) == pytest.approx(0.1)
    assert np.isnan(tpot_of(1.0, 1.0, 1))


@pytest.mark.parametrize("seed", range(30))
def test_scheduler_token_deadlines_match_the_attainment_rule_without_tolerance(
        seed: int) -> None:
    # The scheduler aims for the same deadlines the metric judges (at tolerance 1).
    rng = random.Random(seed)
    n_phases = rng.randint(1, 3)
    firsts = sorted(rng.sample(range(2, 40), n_phases - 1))
    phases = tuple(zip([1, *firsts], [rng.choice([0.02, 0.05, 0.1]) for _ in range(n_phases)],
                       strict=True))
    arrival, ttft = rng.uniform(0, 10), rng.uniform(0.1, 2)
    req = SchedRequest(0, arrival, 100, 50, 50, ttft, phases)
    req.first_token_s = arrival + rng.uniform(0, 2 * ttft)
    t0 = max(arrival + ttft, req.first_token_s)
    offsets = token_deadline_offsets(50, phases)
    for n in range(2, 51):
        # One rule (core.deadlines): the scheduler's deadline is the judge's, bit for bit.
        assert token_deadline(req, n) == t0 + offsets[n - 1]
        assert token_deadline_offset(n, phases) == offsets[n - 1]
        # and brute force: the sum of each token's phase TPOT
        brute = t0 + sum(req.tpot_for_token(i) for i in range(2, n + 1))
        assert offsets[n - 1] + t0 == pytest.approx(brute, rel=1e-12)


def test_attainment_judges_with_the_schedulers_own_rule() -> None:
    assert attainment.token_deadline_offsets is deadlines.token_deadline_offsets


@given(st.lists(st.tuples(st.integers(1, 60), st.floats(1e-3, 0.5)), min_size=1, max_size=4),
       st.integers(0, 80))
def test_scalar_and_vector_offsets_agree_bit_for_bit(phases: list[tuple[int, float]],
                                                      n_tokens: int) -> None:
    # Any ascending phase starts, repeated ones included.
    phases_t = tuple(sorted(phases, key=lambda p: p[0]))
    offsets = token_deadline_offsets(n_tokens, phases_t)
    assert offsets.shape == (n_tokens,)
    for k in range(n_tokens):
        assert token_deadline_offset(k + 1, phases_t) == offsets[k]
    if n_tokens:                          # the rule: sum of tpot(i), i = 2..n
        req = SchedRequest(0, 0.0, 1, n_tokens, n_tokens, 1.0, phases_t)
        brute = sum(req.tpot_for_token(i) for i in range(2, n_tokens + 1))
        assert offsets[-1] == pytest.approx(brute, rel=1e-12, abs=1e-15)

