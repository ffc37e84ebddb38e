"""Admission counts a long prompt's own attention: its later chunks attend to its
earlier ones, which the tier planner's rate (each step a fresh prompt's chunk) leaves
out. Under a profile with a pairs term, a prompt feasible by the rate alone but not
once its chunks' attention is counted is not admitted; under a model without the term
nothing changes."""

from __future__ import annotations

from slobench.core.request import SchedRequest
from slobench.perf.step_profile import StepProfile
from slobench.sched.interface import SchedContext
from slobench.sched.kv_blocks import BlockPool
from slobench.sched.slos.policy import SlosConfig, SlosPolicy

TPOT_S = 0.1
LINEAR = {"const": 0.005, "prefill_tokens": 1e-4, "decode_tokens": 1e-4}
PAIRS = {**LINEAR, "prefill_attention": 4e-8}


def _request(rid: int, prompt: int, ttft_slo_s: float, arrival: float = 0.0) -> SchedRequest:
    return SchedRequest(rid=rid, arrival_s=arrival, prompt_tokens=prompt, output_tokens=20,
                        expected_output=20, ttft_slo_s=ttft_slo_s,
                        phase_tpots=((1, TPOT_S),), has_slo=True)


def _policy(coef: dict[str, float]) -> SlosPolicy:
    cfg = SlosConfig(margin=1.0, max_stretch=1.0, best_effort=False)
    policy = SlosPolicy(SchedContext(perf=StepProfile(coef), kv=BlockPool(4000),
                                     tpot_tiers_s=(TPOT_S,), options={"slos": cfg}))
    for i in range(4):                         # decodes, so steps run at the TPOT pace
        policy.add_request(_request(i, 16, ttft_slo_s=1.0), 0.0, True)
    policy.schedule(0.0)
    for r in policy.admitted:
        r.num_computed, r.generated, r.first_token_s = 16, 1, 0.01
    return policy


def _chunked_prefill_s(profile: StepProfile, prompt: int, chunk: int) -> float:
    """The prompt's prefill in chunks of `chunk`, each beside the 4 decodes."""
    t, done = 0.0, 0
    while done < prompt:
        c = min(chunk, prompt - done)
        t += profile.step_time_of_chunks(c, 4, 4 * 17 + done + c, 0, c * (done + c))
        done += c
    return t


def test_a_long_prompt_late_by_its_own_attention_is_not_admitted() -> None:
    policy = _policy(PAIRS)
    plan_tokens = policy.planner.plan((4,)).prefill_tokens
    # By the planner's rate 4,000 tokens take ~ 4000 / prefill_tokens steps of 100 ms.
    by_rate_s = 4000 / plan_tokens * TPOT_S
    slo = by_rate_s * 1.3
    assert _chunked_prefill_s(StepProfile(PAIRS), 4000, int(plan_tokens)) > slo
    long = _request(100, 4000, ttft_slo_s=slo, arrival=0.5)
    policy.add_request(long, 0.5, True)
    policy.schedule(0.5)
    assert long.rejected


def test_without_a_pairs_term_the_same_prompt_is_admitted() -> None:
    policy = _policy(LINEAR)
    plan_tokens = policy.planner.plan((4,)).prefill_tokens
    slo = 4000 / plan_tokens * TPOT_S * 1.3
    long = _request(100, 4000, ttft_slo_s=slo, arrival=0.5)
    policy.add_request(long, 0.5, True)
    policy.schedule(0.5)
    assert long in policy.admitted


def test_decodes_are_planned_at_the_admitted_requests_own_context() -> None:
    cfg = SlosConfig(margin=1.0, max_stretch=1.0, best_effort=False, plan_own_context=True)
    perf = StepProfile({**LINEAR, "context_tokens": 2e-6})
    policy = SlosPolicy(SchedContext(perf=perf, kv=BlockPool(8000), tpot_tiers_s=(TPOT_S,),
                                     options={"slos": cfg}))
    at_default = policy.planner.plan((4,)).prefill_tokens
    for i in range(4):                         # 3,000-token prompts, 20 tokens out
        policy.add_request(_request(i, 3000, ttft_slo_s=10.0), 0.0, True)
    policy.schedule(0.0)
    policy.add_request(_request(9, 16, ttft_slo_s=10.0, arrival=0.01), 0.01, True)
    policy.schedule(0.2)                        # a re-plan with them admitted
    assert policy.decode_context == 3072         # (3,000 + 20) rounded up to 256
    assert policy.planner.plan((4,)).prefill_tokens < at_default
