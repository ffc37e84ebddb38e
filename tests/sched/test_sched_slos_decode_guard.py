"""`SlosConfig.decode_guard_steps`: how close to its deadline a decode may be deferred."""

from __future__ import annotations

import pytest

from slobench.core.request import SchedRequest
from slobench.perf.measured import MeasuredModel
from slobench.sched.interface import SchedContext, Verdict
from slobench.sched.kv_blocks import BlockPool
from slobench.sched.slos.policy import SlosConfig, SlosPolicy

TPOT_S = 0.05
# 2 ms + 0.1 ms per token: a 50 ms step holds ~480 tokens.
PERF = MeasuredModel(base_s=0.002, per_token_s=1e-4, decode_step_s=0.002, points={})


def _request(rid: int, prompt: int, ttft_slo_s: float) -> SchedRequest:
    return SchedRequest(rid=rid, arrival_s=0.0, prompt_tokens=prompt, output_tokens=20,
                        expected_output=20, ttft_slo_s=ttft_slo_s,
                        phase_tpots=((1, TPOT_S),), has_slo=True)


def _decode_planned(guard_steps: float, every_step: bool = False, now: float = 0.13) -> bool:
    """A decoding request whose next token is due 120 ms from now, beside a long prefill
    that could take every token of the step: is the decode in this step?"""
    cfg = SlosConfig(margin=1.0, max_stretch=1.0, best_effort=False,
                     decode_guard_steps=guard_steps, decode_every_step=every_step)
    policy = SlosPolicy(SchedContext(perf=PERF, kv=BlockPool(4000), tpot_tiers_s=(TPOT_S,),
                                     options={"slos": cfg}))
    decoding = _request(0, 16, ttft_slo_s=0.2)
    prefilling = _request(1, 20_000, ttft_slo_s=30.0)
    assert policy.add_request(decoding, 0.0, True) == Verdict.PENDING
    assert policy.add_request(prefilling, 0.0, True) == Verdict.PENDING
    policy.schedule(0.0)
    assert decoding in policy.admitted and prefilling in policy.admitted
    # The decoding request's prompt is done and its first token came at 20 ms: token 2 is
    # due at max(0 + 0.2, 0.02) + 0.05 = 0.25 s.
    decoding.num_computed, decoding.generated, decoding.first_token_s = 16, 1, 0.02
    prefilling.num_computed = 480
    plan = policy.schedule(now)
    return any(r is decoding for r, _ in plan.items)


def test_decode_with_two_steps_of_slack_waits_without_guard() -> None:
    # Horizon = now + this step + the next: 0.23 s < 0.25 s, so the decode waits and the
    # long prefill takes the budget.
    assert not _decode_planned(0.0)


def test_decode_guard_step_serves_a_decode_one_step_earlier() -> None:
    assert _decode_planned(1.0)


def test_every_step_serves_a_decode_however_far_its_deadline() -> None:
    # At 0 s token 2 is 250 ms away (five steps): it waits under any finite guard.
    assert not _decode_planned(1.0, now=0.0)
    assert _decode_planned(0.0, every_step=True, now=0.0)


def test_negative_decode_guard_is_rejected() -> None:
    with pytest.raises(ValueError, match="decode_guard_steps"):
        SlosConfig(decode_guard_steps=-1.0)


def test_real_engine_settings_keep_overrides() -> None:
    cfg = SlosConfig.for_real_engine(best_effort=False, margin=0.5)
    assert cfg.best_effort is False and cfg.margin == 0.5
    assert cfg.max_stretch == 1.0 and cfg.decode_guard_steps > 0 and cfg.decode_every_step
