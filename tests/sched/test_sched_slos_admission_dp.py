"""SLOs-Serve's admission DP (SPEC §7) against brute-force enumeration of every subset.

The reference model, written here independently: take the forced items and a subset
of candidates in EDF order; each admitted item advances time by its prefill tokens
over rate_of(counts admitted before it), then counts[tier] += 1 and KV += its tokens.
Forced items are always in; a subset is infeasible if it pushes a forced item past
max(its deadline, its finish with no candidate admitted). A candidate must finish its
prefill by its deadline with the cumulative KV within the limit.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable

import pytest

from slobench.sched.slos.admission import AdmissionItem, admit, admit_greedy_all

Rate = Callable[[tuple[int, ...]], float]


def simulate(items: list[AdmissionItem], chosen: set[int], base: tuple[int, ...], now: float,
             kv_limit: int, rate_of: Rate) -> float | None:
    """Finish time of admitting forced + chosen, or None if the subset is infeasible."""
    alone = _finishes(items, set(), base, now, rate_of)
    t, counts, kv = now, list(base), 0
    for it in sorted(items, key=lambda x: x.deadline_s):
        if not (it.forced or it.key in chosen):
            continue
        rate = rate_of(tuple(counts))
        t = t + it.prefill_tokens / rate if rate > 0 else math.inf
        counts[it.tier] += 1
        kv += it.kv_tokens
        limit = max(it.deadline_s, alone[it.key]) if it.forced else it.deadline_s
        if t > limit or (not it.forced and kv > kv_limit):
            return None
    return t


def _finishes(items, chosen, base, now, rate_of) -> dict[int, float]:
    t, counts, out = now, list(base), {}
    for it in sorted(items, key=lambda x: x.deadline_s):
        if it.forced or it.key in chosen:
            rate = rate_of(tuple(counts))
            t = t + it.prefill_tokens / rate if rate > 0 else math.inf
            counts[it.tier] += 1
            out[it.key] = t
    return out


def brute_force(items, base, now, kv_limit, rate_of) -> tuple[int, float]:
    """(max admitted candidates, earliest finish among subsets achieving it)."""
    cands = [it.key for it in items if not it.forced]
    best_n, best_t = -1, math.inf
    for k in range(len(cands), -1, -1):
        for subset in itertools.combinations(cands, k):
            t = simulate(items, set(subset), base, now, kv_limit, rate_of)
            if t is None:
                continue
            if k > best_n or t < best_t:
                best_n, best_t = k, t
        if best_n >= 0:
            return best_n, best_t  # larger subsets were all infeasible
    raise AssertionError("the empty subset is always feasible")


def random_instance(seed: int, max_cands: int, max_tiers: int, many_states: bool = False):
    rng = random.Random(seed)
    n_tiers = rng.randint(1, max_tiers)
    n_cand = rng.randint(1, max_cands)
    n_forced = rng.randint(0, 2)
    now = rng.uniform(0, 5)
    items = []
    for key in range(n_cand + n_forced):
        forced = key >= n_cand
        items.append(AdmissionItem(
            key=key,
            deadline_s=now + rng.uniform(0.0, 1.5),
            prefill_tokens=rng.randint(1, 3000),
            kv_tokens=rng.randint(16, 2000),
            tier=rng.randrange(n_tiers),
            forced=forced,
        ))
    base = tuple(rng.randint(0, 3) for _ in range(n_tiers))
    kv_limit = rng.choice([10**9, rng.randint(500, 6000)])  # sometimes KV binds
    if many_states:
        # Rate depends on the tier mix non-linearly (and hits zero): many (kv, t) states
        # per counts key, so the Pareto pruning has work to do.
        weights = [rng.uniform(0.02, 0.5) for _ in range(n_tiers)]
        table: dict[tuple[int, ...], float] = {}

        def rate_of(counts: tuple[int, ...]) -> float:
            if counts not in table:
                load = sum(w * c for w, c in zip(weights, counts, strict=True))
                table[counts] = 0.0 if load > 3 else 12_000 * (1 - load / 3) ** 2 + rng.uniform(
                    0, 500)
            return table[counts]
    else:
        r0 = rng.uniform(2000, 20000)
        per = [rng.uniform(0, 2000) for _ in range(n_tiers)]

        def rate_of(counts: tuple[int, ...]) -> float:
            return r0 - sum(p * c for p, c in zip(per, counts, strict=True))
    return items, base, now, kv_limit, rate_of


@pytest.mark.parametrize("seed", range(200))
def test_admission_dp_matches_brute_force_over_all_subsets(seed: int) -> None:
    items, base, now, kv_limit, rate_of = random_instance(seed, max_cands=7, max_tiers=2)
    res = admit(items, base, now, kv_limit, rate_of)
    best_n, best_t = brute_force(items, base, now, kv_limit, rate_of)
    assert len(res.admitted) == best_n
    assert all(not it.forced for it in items if it.key in res.admitted)
    t = simulate(items, set(res.admitted), base, now, kv_limit, rate_of)
    assert t is not None, "the DP's chosen set is infeasible"
    assert res.finish_s == pytest.approx(t, rel=1e-12)
    assert res.finish_s == pytest.approx(best_t, rel=1e-12)


@pytest.mark.parametrize("seed", range(40))
def test_admission_dp_pruning_keeps_the_optimum_with_many_states(seed: int) -> None:
    items, base, now, kv_limit, rate_of = random_instance(1000 + seed, max_cands=10,
                                                          max_tiers=3, many_states=True)
    res = admit(items, base, now, kv_limit, rate_of)
    best_n, best_t = brute_force(items, base, now, kv_limit, rate_of)
    assert len(res.admitted) == best_n
    t = simulate(items, set(res.admitted), base, now, kv_limit, rate_of)
    assert t is not None
    assert t == pytest.approx(best_t, rel=1e-12)


def test_admission_dp_pruning_actually_prunes() -> None:
    # 12 identical-tier candidates that all fit: without pruning the DP would keep every
    # subset; with it, one state per count survives each step.
    items = [AdmissionItem(k, 100.0, 10 + k, 16, 0, False) for k in range(12)]
    res = admit(items, (0,), 0.0, 10**9, lambda c: 1000.0)
    assert len(res.admitted) == 12
    assert res.states_explored < 2 ** 12


@pytest.mark.parametrize("seed", range(200))
def test_admit_greedy_all_is_true_iff_admitting_every_candidate_is_feasible(seed: int) -> None:
    items, base, now, kv_limit, rate_of = random_instance(5000 + seed, max_cands=6, max_tiers=2)
    everyone = {it.key for it in items if not it.forced}
    feasible = simulate(items, everyone, base, now, kv_limit, rate_of) is not None
    assert admit_greedy_all(items, base, now, kv_limit, rate_of) == feasible
    if feasible:
        assert admit(items, base, now, kv_limit, rate_of).admitted == frozenset(everyone)


def test_admission_never_drops_forced_items_even_when_they_are_late() -> None:
    forced = AdmissionItem(0, deadline_s=0.0, prefill_tokens=10_000, kv_tokens=0, tier=0,
                           forced=True)
    cand = AdmissionItem(1, deadline_s=100.0, prefill_tokens=10, kv_tokens=16, tier=0,
                         forced=False)
    res = admit([forced, cand], (0,), 0.0, 10**6, lambda c: 1000.0)
    # The forced prefill (10 s) is already past its deadline; it still runs first.
    assert res.admitted == frozenset({1})
    assert res.finish_s == pytest.approx(10_000 / 1000 + 10 / 1000)


def test_admission_never_admits_a_candidate_that_makes_an_admitted_request_late() -> None:
    # Admitted A: 1000 tokens due at 1.5 s, alone done at 1.0 s (rate 1000 tok/s).
    # Candidate B: 800 tokens due at 0.9 s, feasible for itself (0.8 s), but then A
    # finishes at 1.8 s, past its deadline.
    a = AdmissionItem(0, deadline_s=1.5, prefill_tokens=1000, kv_tokens=0, tier=0, forced=True)
    b = AdmissionItem(1, deadline_s=0.9, prefill_tokens=800, kv_tokens=16, tier=0, forced=False)
    rate = lambda counts: 1000.0  # noqa: E731
    assert simulate([a], set(), (0,), 0.0, 10**6, rate) <= a.deadline_s
    res = admit([a, b], (0,), 0.0, 10**6, rate)
    assert res.admitted == frozenset()
    assert not admit_greedy_all([a, b], (0,), 0.0, 10**6, rate)
