"""Admission with `cut_first_step`: the first step is planned as the step planner cuts
it (at the deadline of the most urgent prefill that finishes in it), so a short prompt
queued beside a long one is admitted, and both first tokens then come in time."""

from __future__ import annotations

from slobench.core.request import SchedRequest
from slobench.perf.measured import MeasuredModel
from slobench.sched.interface import SchedContext
from slobench.sched.kv_blocks import BlockPool
from slobench.sched.slos.admission import AdmissionItem
from slobench.sched.slos.cut_steps import CutSteps
from slobench.sched.slos.policy import SlosConfig, SlosPolicy

TPOT_S = 0.1            # a full step: 100 ms
# 2 ms + 0.1 ms per token.
PERF = MeasuredModel(base_s=0.002, per_token_s=1e-4, decode_step_s=0.002, points={})


def _request(rid: int, prompt: int, ttft_slo_s: float, arrival: float = 0.0) -> SchedRequest:
    return SchedRequest(rid=rid, arrival_s=arrival, prompt_tokens=prompt, output_tokens=50,
                        expected_output=50, ttft_slo_s=ttft_slo_s,
                        phase_tpots=((1, TPOT_S),), has_slo=True)


def _policy_with_decodes(n: int, cut: bool, perf: MeasuredModel = PERF) -> SlosPolicy:
    cfg = SlosConfig(margin=1.0, max_stretch=1.0, best_effort=False, cut_first_step=cut)
    policy = SlosPolicy(SchedContext(perf=perf, kv=BlockPool(4000), tpot_tiers_s=(TPOT_S,),
                                     options={"slos": cfg}))
    for i in range(n):
        policy.add_request(_request(i, 16, ttft_slo_s=1.0), 0.0, True)
    policy.schedule(0.0)
    for r in policy.admitted:                       # all decoding now
        r.num_computed, r.generated, r.first_token_s = 16, 1, 0.01
    return policy


def _run_steps(policy: SlosPolicy, now: float, until: float) -> None:
    """Run the policy's batches on PERF's step times, as an engine would."""
    while now < until:
        plan = policy.schedule(now)
        if not plan.items:
            return
        prefill = sum(n for r, n in plan.items if not r.generated)
        decode = sum(n for r, n in plan.items if r.generated)
        now += PERF.step_time(prefill, decode, 0)
        for r, n in plan.items:
            r.num_computed += n
            if r.num_computed == r.prompt_tokens + r.generated:
                r.generated += 1
                if r.generated == 1:
                    r.first_token_s = now


def _both(cut: bool) -> tuple[SlosPolicy, SchedRequest, SchedRequest]:
    policy = _policy_with_decodes(8, cut)
    long = _request(100, 900, ttft_slo_s=1.0, arrival=0.5)     # fills a full step
    short = _request(101, 60, ttft_slo_s=0.03, arrival=0.5)    # 30 ms: < one full step
    policy.add_request(long, 0.5, True)
    policy.add_request(short, 0.5, True)
    return policy, long, short


def test_a_short_prompt_beside_a_long_one_is_admitted_and_served_in_time() -> None:
    policy, long, short = _both(cut=True)
    _run_steps(policy, 0.5, 2.0)
    assert long in policy.admitted and short in policy.admitted
    assert short.first_token_s is not None and short.first_token_s <= short.ttft_deadline_s
    assert long.first_token_s is not None and long.first_token_s <= long.ttft_deadline_s


def test_without_it_the_short_prompt_is_planned_a_full_step_and_turned_away() -> None:
    policy, long, short = _both(cut=False)
    policy.schedule(0.5)
    assert long in policy.admitted and short.rejected


def _item(key: int, deadline: float, tokens: int, forced: bool = False) -> AdmissionItem:
    return AdmissionItem(key, deadline, tokens, 100, 0, forced)


def test_the_step_ends_at_the_most_urgent_deadline_it_meets_and_the_rest_follow() -> None:
    # 4 decodes; the 50-token prompt (due in 40 ms) finishes in a step cut to 40 ms (380
    # tokens: 326 of the long prompt's beside it), the 2,000-token one (1 s) runs a full
    # step beside 5 decodes (975 more), then a last one that ends with its 699 tokens.
    step = CutSteps(PERF, PERF, 0.0, TPOT_S, 4, 64, [_item(2, 1.0, 2000), _item(1, 0.04, 50)])
    assert step.length_s == 0.04
    assert step.first_token_s(1, 0.0) == 0.04
    full_rate = (PERF.max_batch_tokens(TPOT_S, 4, 64) - 4) / TPOT_S   # tokens per second
    fluid_done = (50 + 2000) / full_rate
    assert abs(step.first_token_s(2, fluid_done) - (0.04 + TPOT_S + 0.002 + 704e-4)) < 1e-9


def test_a_prompt_behind_the_cut_step_is_planned_in_the_next_cut_step_not_a_full_one() -> None:
    # 8 decodes; A (100 tokens, 30 ms) cuts the first step at 30 ms, B (200 tokens,
    # 60 ms) gets 172 of its tokens in it and its last 28 in a second step of 5.7 ms:
    # its first token at 35.7 ms, where a full second step would have it at 130 ms.
    policy = _policy_with_decodes(8, cut=True)
    a = _request(100, 100, ttft_slo_s=0.03, arrival=0.5)
    b = _request(101, 200, ttft_slo_s=0.06, arrival=0.5)
    policy.add_request(a, 0.5, True)
    policy.add_request(b, 0.5, True)
    _run_steps(policy, 0.5, 1.0)
    assert a in policy.admitted and b in policy.admitted
    for r in (a, b):
        assert r.first_token_s is not None and r.first_token_s <= r.ttft_deadline_s


def test_a_hopeless_candidate_adds_no_work_but_a_late_admitted_prefill_does() -> None:
    hopeless = _item(1, 0.001, 60)                  # 1 ms: no step is that short
    fine = _item(2, 0.03, 60)
    assert CutSteps(PERF, PERF, 0.0, TPOT_S, 4, 64, [hopeless, fine]).length_s == PERF.batch_time(
        4 + 60, 4, 64, 0, 0)
    late_forced = _item(1, 0.001, 60, forced=True)
    assert CutSteps(PERF, PERF, 0.0, TPOT_S, 4, 64, [late_forced, fine]).length_s == (
        PERF.batch_time(4 + 120, 4, 64, 0, 0))


class _TailModel(MeasuredModel):
    """Steps planned at twice PERF's time, one step alone at PERF's own."""

    def step_time(self, prefill_tokens: int, decode_tokens: int, context_tokens: int,
                  draft_steps: int = 0) -> float:
        return 2 * PERF.step_time(prefill_tokens, decode_tokens, context_tokens, draft_steps)

    def one_step_model(self) -> MeasuredModel:
        return PERF


def test_a_first_token_due_in_one_step_is_planned_and_served_on_the_one_step_model() -> None:
    tail = _TailModel(base_s=0.002, per_token_s=1e-4, decode_step_s=0.002, points={})
    policy = _policy_with_decodes(8, cut=True, perf=tail)
    # Beside 8 decodes: ~14 ms as one step, ~29 ms on the tail model; 20 ms left.
    short = _request(100, 100, ttft_slo_s=0.02, arrival=0.5)
    policy.add_request(short, 0.5, True)
    plan = policy.schedule(0.5)
    assert short in policy.admitted and (short, 100) in plan.items
