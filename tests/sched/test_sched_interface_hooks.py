"""The hooks an adapter drives a policy with (sched.interface): it never reads queues."""

from __future__ import annotations

import ast
from pathlib import Path

from slobench.core.request import SchedRequest
from slobench.perf.measured import MeasuredModel
from slobench.sched.interface import ReplicaScheduler, SchedContext, Verdict
from slobench.sched.kv_blocks import BlockPool
from slobench.sched.slos.policy import SlosConfig, SlosPolicy
from slobench.sched.vllm_policy import SarathiPolicy, VllmPolicy

TPOT_S = 0.1
PERF = MeasuredModel(base_s=0.002, per_token_s=1e-4, decode_step_s=0.002, points={})
PLUGIN = Path(__file__).parents[2] / "slobench/engines/vllm/plugin/scheduler.py"


def _request(rid: int, ttft_slo_s: float = 1.0, has_slo: bool = True) -> SchedRequest:
    return SchedRequest(rid=rid, arrival_s=0.0, prompt_tokens=16, output_tokens=20,
                        expected_output=20, ttft_slo_s=ttft_slo_s,
                        phase_tpots=((1, TPOT_S),), has_slo=has_slo)


def _slos(**cfg: object) -> SlosPolicy:
    return SlosPolicy(SchedContext(perf=PERF, kv=BlockPool(4000), tpot_tiers_s=(TPOT_S,),
                                   options={"slos": SlosConfig(**cfg)}))  # type: ignore[arg-type]


def test_a_replan_reports_whom_it_released_admitted_first() -> None:
    policy = _slos()
    ok, hopeless = _request(0), _request(1, ttft_slo_s=0.0)   # the latter: kept best-effort
    assert policy.add_request(hopeless, 0.0, True) == Verdict.PENDING
    assert policy.add_request(ok, 0.0, True) == Verdict.PENDING
    plan = policy.schedule(0.0)
    assert plan.replanned and plan.released == [ok, hopeless]
    assert not ok.best_effort and hopeless.best_effort and not plan.rejected
    assert policy.schedule(0.01).released == []            # each is released once


def test_a_rejection_is_not_released() -> None:
    policy = _slos(best_effort=False)
    r = _request(0, ttft_slo_s=0.0)
    policy.add_request(r, 0.0, True)
    plan = policy.schedule(0.0)
    assert plan.rejected == [r] and plan.released == []


def test_serving_order_is_edf_then_best_effort_in_order() -> None:
    policy = _slos()
    late, early, free = _request(0, 2.0), _request(1, 1.0), _request(2, has_slo=False)
    for r in (late, early, free):
        policy.add_request(r, 0.0, True)
    policy.schedule(0.0)
    order = dict((r.rid, key) for r, key in policy.serving_order())
    assert order == {0: (1, 2.0), 1: (1, 1.0), 2: (2, 0)}


def test_on_aborted_takes_a_request_out_of_whichever_queue_holds_it() -> None:
    policy = _slos()
    pending, served, free = _request(0), _request(1), _request(2, has_slo=False)
    policy.add_request(served, 0.0, True)
    policy.schedule(0.0)                                    # served is admitted
    policy.add_request(pending, 0.0, True)
    policy.add_request(free, 0.0, True)
    assert policy.queue_lengths() == (3, 0)
    for r in (pending, served, free):
        policy.ctx.kv.free(r)                               # the engine frees KV first
        policy.on_aborted(r)
    assert policy.queue_lengths() == (0, 0) and policy.kv_reserved == 0
    policy.on_aborted(_request(9))                          # held nowhere: a no-op
    assert not policy.has_work()


def test_set_tiers_and_set_perf_rebuild_the_planner() -> None:
    policy = _slos()
    policy.set_tiers((0.05, TPOT_S))
    assert policy.planner.tiers_s == (0.05, TPOT_S) and policy.ctx.tpot_tiers_s == (0.05, TPOT_S)
    faster = MeasuredModel(base_s=0.001, per_token_s=5e-5, decode_step_s=0.001, points={})
    policy.set_perf(faster)
    assert policy.ctx.perf is faster and policy.planner.perf is faster


def test_vllm_policy_hooks() -> None:
    ctx = SchedContext(perf=PERF, kv=BlockPool(4000), tpot_tiers_s=(TPOT_S,))
    policy = VllmPolicy(ctx)
    a, b = _request(0), _request(1)
    policy.add_request(a, 0.0, True)
    policy.add_request(b, 0.0, True)
    policy.on_aborted(b)                                    # still waiting
    policy.schedule(0.0)
    policy.ctx.kv.free(a)
    policy.on_aborted(a)                                    # running
    assert not policy.has_work() and policy.serving_order() == []
    assert policy.next_wakeup(0.0) is None


def test_sarathi_resizes_its_chunk_with_the_tiers_and_the_model() -> None:
    policy = SarathiPolicy(SchedContext(perf=PERF, kv=BlockPool(4000), tpot_tiers_s=(TPOT_S,)))
    loose = policy.token_budget
    policy.set_tiers((0.02, TPOT_S))
    assert policy.token_budget < loose
    assert policy.token_budget == SarathiPolicy(SchedContext(
        perf=PERF, kv=BlockPool(4000), tpot_tiers_s=(0.02, TPOT_S))).token_budget


def test_the_vllm_plugin_calls_the_policy_through_the_interface_only() -> None:
    hooks = {name for name in dir(ReplicaScheduler) if not name.startswith("_")}
    used = {node.attr for node in ast.walk(ast.parse(PLUGIN.read_text()))
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
            and node.value.attr == "policy"}
    assert used and used <= hooks, used - hooks
