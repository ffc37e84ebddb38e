"""Admission while decodes run: a short prompt whose TTFT deadline is shorter than a full
step at the tightest TPOT, but longer than the one short step that serves it, is admitted
and gets its first token in time; with a queue too long for one step it is not."""

from __future__ import annotations

from slobench.core.request import SchedRequest
from slobench.perf.measured import MeasuredModel
from slobench.perf.step_profile import StepProfile
from slobench.sched.interface import SchedContext, Verdict
from slobench.sched.kv_blocks import BlockPool
from slobench.sched.slos.policy import SlosConfig, SlosPolicy

TPOT_S = 0.1            # a full step: 100 ms
# 2 ms + 0.1 ms per token.
PERF = MeasuredModel(base_s=0.002, per_token_s=1e-4, decode_step_s=0.002, points={})


def _request(rid: int, prompt: int, ttft_slo_s: float, arrival: float = 0.0) -> SchedRequest:
    return SchedRequest(rid=rid, arrival_s=arrival, prompt_tokens=prompt, output_tokens=50,
                        expected_output=50, ttft_slo_s=ttft_slo_s,
                        phase_tpots=((1, TPOT_S),), has_slo=True)


def _policy_with_decodes(n: int) -> SlosPolicy:
    cfg = SlosConfig(margin=1.0, max_stretch=1.0, best_effort=False)
    policy = SlosPolicy(SchedContext(perf=PERF, kv=BlockPool(4000), tpot_tiers_s=(TPOT_S,),
                                     options={"slos": cfg}))
    for i in range(n):
        r = _request(i, 16, ttft_slo_s=1.0)
        policy.add_request(r, 0.0, True)
    policy.schedule(0.0)
    for r in policy.admitted:                       # all decoding now
        r.num_computed, r.generated, r.first_token_s = 16, 1, 0.01
    return policy


def test_a_short_prompt_fits_one_short_step_beside_the_decodes() -> None:
    policy = _policy_with_decodes(8)
    late = _request(100, 60, ttft_slo_s=0.03, arrival=0.5)   # 30 ms: less than one full step
    assert policy.add_request(late, 0.5, True) == Verdict.PENDING
    plan = policy.schedule(0.5)
    assert late in policy.admitted and not plan.rejected
    # Its prefill is in this step, which (decodes + 60 tokens: ~9 ms) ends in time.
    assert (late, 60) in plan.items
    tokens = sum(n for _, n in plan.items)
    assert PERF.step_time(tokens, 0, 0) <= 0.03


def test_a_queue_too_long_for_one_step_falls_back_to_full_steps() -> None:
    policy = _policy_with_decodes(8)
    long = _request(100, 900, ttft_slo_s=1.0, arrival=0.5)     # fills a full step
    short = _request(101, 60, ttft_slo_s=0.03, arrival=0.5)
    policy.add_request(long, 0.5, True)
    policy.add_request(short, 0.5, True)
    policy.schedule(0.5)
    assert long in policy.admitted and short.rejected


def test_the_short_step_holds_its_prompt_even_where_the_full_steps_rate_is_slower() -> None:
    # Attention makes a step's cost convex in its prefill: a full 100 ms step prefills
    # ~1,200 tokens (12k tokens/s), so at that rate a 400-token prompt takes 33 ms, yet
    # the one short step holding it beside the decodes takes ~18 ms. Admission must
    # count that one step, not two of them.
    perf = StepProfile({"const": 0.005, "prefill_tokens": 6e-6, "decode_tokens": 1e-5,
                        "prefill_attention": 6e-8})
    cfg = SlosConfig(margin=1.0, max_stretch=1.0, best_effort=False)
    policy = SlosPolicy(SchedContext(perf=perf, kv=BlockPool(4000), tpot_tiers_s=(TPOT_S,),
                                     options={"slos": cfg}))
    for i in range(2):
        policy.add_request(_request(i, 16, ttft_slo_s=1.0), 0.0, True)
    policy.schedule(0.0)
    for r in policy.admitted:
        r.num_computed, r.generated, r.first_token_s = 16, 1, 0.01
    prompt = _request(100, 400, ttft_slo_s=0.025, arrival=0.5)
    policy.add_request(prompt, 0.5, True)
    plan = policy.schedule(0.5)
    assert prompt in policy.admitted and not plan.rejected
    assert (prompt, 400) in plan.items
    prefill = sum(n for r, n in plan.items if r is prompt)
    decode = len(plan.items) - 1
    step = perf.step_time_of_chunks(prefill, decode, 400 + 2 * 17, 0, prefill * prefill)
    assert step <= 0.025


def test_a_candidate_too_urgent_for_the_short_step_does_not_cost_the_others_it() -> None:
    policy = _policy_with_decodes(8)
    hopeless = _request(100, 60, ttft_slo_s=0.005, arrival=0.5)   # 5 ms: no step is that short
    fine = _request(101, 60, ttft_slo_s=0.03, arrival=0.5)
    policy.add_request(hopeless, 0.5, True)
    policy.add_request(fine, 0.5, True)
    plan = policy.schedule(0.5)
    # The hopeless one is turned away and cuts no step, so the other still gets the one
    # short step (decodes + both prompts: ~15 ms) rather than a full 100 ms one.
    assert hopeless.rejected and fine in policy.admitted
    assert (fine, 60) in plan.items
    tokens = sum(n for _, n in plan.items)
    assert PERF.step_time(tokens, 0, 0) <= 0.03
