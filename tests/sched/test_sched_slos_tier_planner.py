"""SLOs-Serve batch planning per TPOT-tier mix, with and without speculation (SPEC §7)."""

from __future__ import annotations

import itertools
import math

import pytest

from slobench.perf.factory import build_perf_model
from slobench.sched.slos.speculative import expected_tokens, shortest_draft
from slobench.sched.slos.tiers import TierPlanner

TIERS = (0.05, 0.1, 0.2)


def spec_t(n: int, s: int = 0) -> float:
    """SPEC §6's OPT-13B (2), A100 profile."""
    return max(7.213e-5 * n + 0.003341 * s + 0.03173, 0.003014 * s + 1.2e-5)


def spec_budget(step_s: float, draft_steps: int) -> int:
    """Largest N with T(N, S) <= step_s (brute force over N)."""
    n = -1
    while spec_t(n + 1, draft_steps) <= step_s:
        n += 1
    return max(n, 0)


def count_mixes(n_tiers: int, top: int = 3):
    return [c for c in itertools.product(range(top + 1), repeat=n_tiers) if any(c)]


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.6, 0.8, 0.95])
@pytest.mark.parametrize("s", [1, 2, 3, 5, 8])
def test_expected_tokens_is_the_geometric_series(alpha: float, s: int) -> None:
    # 1 + a + ... + a^(s-1): token k+1 is accepted only if the first k drafts were.
    assert expected_tokens(alpha, s) == pytest.approx(sum(alpha**k for k in range(s)))
    if alpha > 0:
        assert expected_tokens(alpha, s) == pytest.approx((1 - alpha**s) / (1 - alpha))


@pytest.mark.parametrize("bad", [(0.5, 0), (1.0, 2), (-0.1, 2)])
def test_expected_tokens_rejects_out_of_range_arguments(bad: tuple[float, int]) -> None:
    with pytest.raises(ValueError):
        expected_tokens(*bad)


@pytest.mark.parametrize("alpha", [0.5, 0.8])
@pytest.mark.parametrize("need", [0.5, 1.0, 1.5, 2.2, 3.9, 4.99])
def test_shortest_draft_is_the_first_length_reaching_the_need(alpha: float, need: float) -> None:
    got = shortest_draft(alpha, need, 10)
    reach = [s for s in range(1, 11) if expected_tokens(alpha, s) >= need - 1e-12]
    assert got == (reach[0] if reach else None)


@pytest.mark.parametrize("margin", [1.0, 0.9])
@pytest.mark.parametrize("alpha", [0.5, 0.7, 0.9])
def test_tier_planner_draft_lengths_are_the_shortest_that_keep_each_tier_on_schedule(
        margin: float, alpha: float) -> None:
    perf = build_perf_model("opt-13b", "a100", 2)
    planner = TierPlanner(perf, TIERS, margin=margin, alpha=alpha, max_draft=6)
    for counts in count_mixes(len(TIERS)):
        plan = planner.plan(counts)
        for i, c in enumerate(counts):
            if not c:
                continue
            d = plan.draft_len[i]
            need = plan.step_s / (TIERS[i] * margin)  # tokens per step tier i must average
            assert expected_tokens(alpha, d) >= need - 1e-9, (counts, i)
            if d > 1:
                assert expected_tokens(alpha, d - 1) < need - 1e-12, (counts, i)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 0.85])
def test_tier_planner_picks_the_anchor_and_draft_leaving_most_prefill(alpha: float) -> None:
    perf = build_perf_model("opt-13b", "a100", 2)
    margin, max_draft = 0.9, 5
    planner = TierPlanner(perf, TIERS, margin=margin, alpha=alpha, max_draft=max_draft)
    for counts in count_mixes(len(TIERS), top=2):
        # Brute force every (anchor tier, s) with the formula profile.
        best_rate = -math.inf
        for anchor in (i for i, c in enumerate(counts) if c):
            for s in range(1, (max_draft if alpha > 0 else 1) + 1):
                step = TIERS[anchor] * margin * expected_tokens(alpha, s)
                drafts, decode = [], 0.0
                for i, c in enumerate(counts):
                    need = step / (TIERS[i] * margin)
                    d = shortest_draft(alpha, need, max_draft if alpha > 0 else 1) if c else 1
                    if d is None:
                        break
                    drafts.append(d)
                    decode += c * (d if need >= 1 else need)
                else:
                    budget = spec_budget(step, max(drafts) - 1)
                    best_rate = max(best_rate, (budget - decode) / step)
        plan = planner.plan(counts)
        assert plan.prefill_rate == pytest.approx(best_rate, rel=1e-9), counts
        assert spec_t(plan.budget_tokens, max(plan.draft_len) - 1) <= plan.step_s + 1e-12


def test_tier_planner_without_speculation_steps_at_tightest_present_tier() -> None:
    perf = build_perf_model("opt-13b", "a100", 2)
    planner = TierPlanner(perf, TIERS, margin=0.9)
    for counts in count_mixes(len(TIERS)):
        tightest = min(TIERS[i] for i, c in enumerate(counts) if c)
        plan = planner.plan(counts)
        assert plan.step_s == pytest.approx(tightest * 0.9)
        assert plan.draft_len == (1,) * len(TIERS)
        assert plan.budget_tokens == spec_budget(tightest * 0.9, 0)
        # looser tiers need only step/tpot tokens per step
        expect_decode = sum(c * min(1.0, plan.step_s / (TIERS[i] * 0.9))
                            for i, c in enumerate(counts))
        assert plan.decode_tokens == pytest.approx(expect_decode)


def test_every_step_plans_one_token_per_step_for_every_decode() -> None:
    perf = build_perf_model("opt-13b", "a100", 2)
    planner = TierPlanner(perf, TIERS, margin=0.9, every_step=True)
    for counts in count_mixes(len(TIERS)):
        plan = planner.plan(counts)
        assert plan.decode_tokens == pytest.approx(sum(counts))
