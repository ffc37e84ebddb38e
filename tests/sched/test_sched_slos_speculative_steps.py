"""SLOs-Serve with speculation on: due decodes verify their tier's draft length (SPEC §7)."""

from __future__ import annotations

import pytest

from slobench.core.request import SchedRequest
from slobench.perf.measured import MeasuredModel
from slobench.sched.interface import SchedContext
from slobench.sched.kv_blocks import BlockPool
from slobench.sched.slos.policy import SlosConfig, SlosPolicy

TPOT_S = 0.05
PERF = MeasuredModel(base_s=0.002, per_token_s=1e-4, decode_step_s=0.002, points={})


def _decode_items(alpha: float, max_draft: int, output_tokens: int = 50) -> tuple[list, SlosPolicy]:
    cfg = SlosConfig(alpha=alpha, max_draft=max_draft, best_effort=False, max_stretch=1.0)
    policy = SlosPolicy(SchedContext(perf=PERF, kv=BlockPool(4000), tpot_tiers_s=(TPOT_S,),
                                     options={"slos": cfg}))
    r = SchedRequest(rid=0, arrival_s=0.0, prompt_tokens=16, output_tokens=output_tokens,
                     expected_output=output_tokens, ttft_slo_s=0.05,
                     phase_tpots=((1, TPOT_S),), has_slo=True)
    policy.add_request(r, 0.0, True)
    policy.schedule(0.0)
    assert r in policy.admitted
    # Prompt done, first token at 40 ms; token 2 is due at 0.1 s: due in the next step.
    r.num_computed, r.generated, r.first_token_s = 16, 1, 0.04
    plan = policy.schedule(0.06)
    return [n for q, n in plan.items if q is r], policy


def test_without_speculation_a_decode_computes_one_token() -> None:
    items, _ = _decode_items(alpha=0.0, max_draft=1)
    assert items == [1]


def test_with_speculation_a_due_decode_verifies_its_tiers_draft_length() -> None:
    items, policy = _decode_items(alpha=0.7, max_draft=4)
    planned = policy.planner.plan((1,)).draft_len[0]
    assert planned > 1                      # drafting pays off at alpha 0.7 here
    assert items == [planned]


def test_speculation_drafts_no_further_than_the_last_output_token() -> None:
    items, _ = _decode_items(alpha=0.7, max_draft=4, output_tokens=2)
    assert items == [1]                     # one token left: nothing to draft


@pytest.mark.parametrize("alpha", [0.3, 0.9])
def test_draft_lengths_never_exceed_max_draft(alpha: float) -> None:
    items, _ = _decode_items(alpha=alpha, max_draft=3)
    assert len(items) == 1 and 1 <= items[0] <= 3
