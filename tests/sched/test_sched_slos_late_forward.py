"""A first offer the replica cannot admit is passed on, unless the forward would reach
the next scheduler after the call's TTFT deadline (forwarding.py): then, with
`keep_late_forwards`, it is kept here as best-effort, as on its last try."""

from __future__ import annotations

import pytest

from slobench.core.request import SchedRequest
from slobench.perf.measured import MeasuredModel
from slobench.sched.interface import SchedContext
from slobench.sched.kv_blocks import BlockPool
from slobench.sched.slos.forwarding import MIN_SEEN, OfferDelays
from slobench.sched.slos.policy import SlosConfig, SlosPolicy

PERF = MeasuredModel(base_s=0.002, per_token_s=1e-3, decode_step_s=0.002, points={})
FIRST_S, LAST_S = 0.01, 0.1       # arrival to scheduler: first offers, last tries


def _request(rid: int, prompt: int, ttft_slo_s: float, arrival: float) -> SchedRequest:
    return SchedRequest(rid=rid, arrival_s=arrival, prompt_tokens=prompt, output_tokens=8,
                        expected_output=8, ttft_slo_s=ttft_slo_s,
                        phase_tpots=((1, 0.1),), has_slo=True)


def _delays(first: float = FIRST_S, last: float = LAST_S, n: int = MIN_SEEN) -> OfferDelays:
    d = OfferDelays()
    for _ in range(n):
        d.observe(first, False)
        d.observe(last, True)
    return d


def test_no_estimate_before_enough_first_offers() -> None:
    assert _delays(n=MIN_SEEN - 1).forward_reaches_s(0.0, 0.0) is None
    assert _delays().forward_reaches_s(0.0, 0.0) == pytest.approx(LAST_S)


def test_before_enough_forwards_a_forward_takes_at_least_a_first_offers_way() -> None:
    d = OfferDelays()
    for _ in range(MIN_SEEN):
        d.observe(FIRST_S, False)
    d.observe(LAST_S, True)                # one forward: not enough to read its median
    assert d.forward_reaches_s(arrival_s=0.0, now=0.02) == pytest.approx(0.02 + FIRST_S)
    assert d.forward_too_late(0.0, deadline_s=0.025, now=0.02)


def test_a_forward_decided_late_reaches_no_sooner_than_an_offer_takes() -> None:
    d = _delays()
    assert d.forward_reaches_s(arrival_s=0.0, now=0.5) == pytest.approx(0.5 + FIRST_S)
    assert d.forward_too_late(0.0, deadline_s=0.08, now=0.0)
    assert not d.forward_too_late(0.0, deadline_s=0.2, now=0.0)


def _policy(keep: bool) -> SlosPolicy:
    cfg = SlosConfig(best_effort=True, keep_late_forwards=keep)
    policy = SlosPolicy(SchedContext(perf=PERF, kv=BlockPool(4000), tpot_tiers_s=(0.1,),
                                     options={"slos": cfg}))
    rid = 0
    for _ in range(MIN_SEEN):              # offers seen: every one admitted and served
        for last_try, delay in ((False, FIRST_S), (True, LAST_S)):
            r = _request(rid, 8, 1.0, arrival=-delay)
            policy.add_request(r, 0.0, last_try)
            rid += 1
    policy.schedule(0.0)
    for r in list(policy.admitted):
        policy.on_finished(r)
    return policy


@pytest.mark.parametrize("keep", [True, False])
def test_an_infeasible_first_offer_is_kept_only_when_its_forward_comes_too_late(
        keep: bool) -> None:
    policy = _policy(keep)
    now = 1.0
    # 500 tokens at 1 ms each: 0.5 s of prefill against a 60 ms TTFT SLO.
    doomed = _request(100, 500, 0.06, arrival=now - FIRST_S)
    policy.add_request(doomed, now, last_try=False)
    plan = policy.schedule(now)
    if keep:
        assert doomed.best_effort and doomed in plan.released and not plan.rejected
        assert doomed.sched_state["kept"] == "forward_late"
    else:
        assert doomed.rejected and plan.rejected == [doomed]


def test_a_first_offer_whose_forward_can_still_make_it_is_passed_on() -> None:
    policy = _policy(True)
    now = 1.0
    # Infeasible here (20 s of prefill for a 10 s SLO), but with time left to pass on.
    big = _request(100, 20_000, 10.0, arrival=now - FIRST_S)
    policy.add_request(big, now, last_try=False)
    plan = policy.schedule(now)
    assert big.rejected and plan.rejected == [big] and not big.best_effort
