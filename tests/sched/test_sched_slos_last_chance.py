"""A call the DP turns away against its guarded deadline, on its last chance here, is
admitted when it fits by the client's own deadline beside the admitted work
(`SlosConfig.last_chance_own_deadline`, last_chance.py); the admitted keep their margin.
Prefill ~1 ms a token."""

from __future__ import annotations

import pytest

from slobench.core.request import SchedRequest
from slobench.perf.measured import MeasuredModel
from slobench.perf.model import PerfModel
from slobench.sched.interface import SchedContext
from slobench.sched.kv_blocks import BlockPool
from slobench.sched.slos.policy import SlosConfig, SlosPolicy

PERF = MeasuredModel(base_s=0.002, per_token_s=1e-3, decode_step_s=0.002, points={})


class _Doubled(PerfModel):
    """A plan model at twice PERF's steps (an upper quantile), PERF its central estimate."""

    name = "doubled"

    def step_time(self, prefill_tokens: int, decode_tokens: int, context_tokens: int,
                  draft_steps: int = 0) -> float:
        return 2.0 * PERF.step_time(prefill_tokens, decode_tokens, context_tokens, draft_steps)

    def describe(self) -> dict:
        return {"name": self.name}

    def central_model(self) -> PerfModel:
        return PERF


def _policy(on: bool, perf: PerfModel = PERF, cut: bool = False) -> SlosPolicy:
    cfg = SlosConfig(best_effort=False, last_chance_own_deadline=on, cut_first_step=cut)
    return SlosPolicy(SchedContext(perf=perf, kv=BlockPool(4000), tpot_tiers_s=(0.1,),
                                   options={"slos": cfg}))


def _call(rid: int, prompt: int, guarded_s: float, own_s: float) -> SchedRequest:
    """A call arriving at 0 planned against `guarded_s`, its client's SLO `own_s`."""
    r = SchedRequest(rid=rid, arrival_s=0.0, prompt_tokens=prompt, output_tokens=8,
                     expected_output=8, ttft_slo_s=guarded_s, phase_tpots=((1, 0.1),))
    r.sched_state["unguarded_deadline_s"] = own_s
    return r


@pytest.mark.parametrize("on", [True, False])
def test_a_last_try_that_fits_its_own_deadline_is_admitted_against_it(on: bool) -> None:
    policy = _policy(on)
    call = _call(1, 50, guarded_s=0.03, own_s=0.08)     # ~50 ms of prefill
    policy.add_request(call, 0.0, last_try=True)
    plan = policy.schedule(0.0)
    if on:
        assert call in policy.admitted and not plan.rejected
        assert call.ttft_deadline_s == pytest.approx(0.08)
        assert call.sched_state["admitted_by"] == "own_deadline"
    else:
        assert call.rejected and plan.rejected == [call]


def test_one_that_misses_even_its_own_deadline_stays_rejected() -> None:
    policy = _policy(True)
    call = _call(1, 100, guarded_s=0.03, own_s=0.06)    # ~100 ms of prefill
    policy.add_request(call, 0.0, last_try=True)
    assert policy.schedule(0.0).rejected == [call]


def test_it_is_not_admitted_where_it_would_make_an_admitted_call_late() -> None:
    policy = _policy(True)
    first = _call(1, 50, guarded_s=0.07, own_s=0.09)
    policy.add_request(first, 0.0, last_try=True)
    policy.schedule(0.0)
    assert first in policy.admitted
    # Due before it by its own deadline: ~30 ms ahead of the admitted 50 ms.
    late = _call(2, 30, guarded_s=0.01, own_s=0.04)
    policy.add_request(late, 0.001, last_try=True)
    plan = policy.schedule(0.001)
    assert late.rejected and plan.rejected == [late]
    assert first.ttft_deadline_s == pytest.approx(0.07)


def test_a_first_offer_that_can_still_be_passed_on_is_not_admitted_so() -> None:
    policy = _policy(True)
    call = _call(1, 50, guarded_s=0.03, own_s=0.08)
    policy.add_request(call, 0.0, last_try=False)       # no forward estimate yet: pass it on
    assert policy.schedule(0.0).rejected == [call]


def test_its_own_first_token_is_judged_on_the_central_model() -> None:
    # ~100 ms of prefill on the plan's doubled model, ~50 ms on its central one.
    policy = _policy(True, _Doubled())
    call = _call(1, 50, guarded_s=0.03, own_s=0.08)
    policy.add_request(call, 0.0, last_try=True)
    assert not policy.schedule(0.0).rejected
    assert call.sched_state["admitted_by"] == "own_deadline"


def test_what_it_costs_the_admitted_is_judged_on_the_plans_model() -> None:
    policy = _policy(True, _Doubled())
    first = _call(1, 30, guarded_s=0.07, own_s=0.09)     # ~62 ms planned: admitted
    policy.add_request(first, 0.0, last_try=True)
    policy.schedule(0.0)
    assert first in policy.admitted
    # ~21 ms on the central model, in time by its own deadline; ahead of the admitted
    # call it pushes that one to ~102 ms on the plan's model (~53 on the central one).
    late = _call(2, 20, guarded_s=0.01, own_s=0.045)
    policy.add_request(late, 0.001, last_try=True)
    assert policy.schedule(0.001).rejected == [late]


def test_a_prompt_longer_than_a_step_is_judged_on_the_plans_model() -> None:
    # ~150 ms of prefill on the central model, ~300 on the plan's: more than one full
    # step's prefill (~100 tokens in the idle plan's 200-ms step on the plan's model).
    policy = _policy(True, _Doubled())
    call = _call(1, 150, guarded_s=0.03, own_s=0.2)
    policy.add_request(call, 0.0, last_try=True)
    assert policy.schedule(0.0).rejected == [call]


def _decoding(policy: SlosPolicy, rid: int) -> SchedRequest:
    """An admitted call whose prefill has run: it decodes, so steps have a grid."""
    r = _call(rid, 10, guarded_s=1.0, own_s=1.0)
    policy.add_request(r, 0.0, last_try=True)
    policy.schedule(0.0)
    assert r in policy.admitted
    r.num_computed, r.generated = r.prompt_tokens, 1
    return r


@pytest.mark.parametrize(("last_chance_s", "admitted"), [(0.035, True), (0.02, False)])
def test_a_call_past_its_own_deadline_by_less_than_the_margin_is_admitted(
        last_chance_s: float, admitted: bool) -> None:
    # Beside one decode its 20-token step takes ~23 ms: past its own deadline (18 ms),
    # so as a candidate no step is played for it (planned at a full 90-ms step); queued,
    # its first token comes at ~23 ms, within its last-chance deadline or not. Steps cut
    # as the step planner cuts them (a real engine's setting).
    policy = _policy(True, cut=True)
    _decoding(policy, 1)
    call = _call(2, 20, guarded_s=0.01, own_s=0.018)
    call.sched_state["last_chance_deadline_s"] = last_chance_s
    policy.add_request(call, 0.0, last_try=True)
    plan = policy.schedule(0.0)
    assert (call in policy.admitted) is admitted
    assert (plan.rejected == [call]) is not admitted
    if admitted:
        assert call.sched_state["admitted_by"] == "own_deadline"
        assert call.ttft_deadline_s == pytest.approx(0.018)    # planned on its own


def test_the_margin_is_for_a_first_token_in_the_next_step_not_a_run_of_them() -> None:
    # 120 tokens beside a decode: more than one 90-ms step's prefill, its first token at
    # the end of the second step; past its own deadline (110 ms), within the last-chance
    # one (200 ms), which is for a first token in the next step only: rejected.
    policy = _policy(True, cut=True)
    _decoding(policy, 1)
    call = _call(2, 120, guarded_s=0.05, own_s=0.11)
    call.sched_state["last_chance_deadline_s"] = 0.2
    policy.add_request(call, 0.0, last_try=True)
    assert policy.schedule(0.0).rejected == [call]
