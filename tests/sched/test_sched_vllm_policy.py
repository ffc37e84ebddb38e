"""vLLM's default policy (and Sarathi-Serve) as the simulator runs them (SPEC §7 baselines)."""

from __future__ import annotations

import random

import pytest

from slobench.core.request import SchedRequest
from slobench.engines.sim.replica import SimReplica
from slobench.perf.factory import build_perf_model
from slobench.sched.interface import SchedContext
from slobench.sched.kv_blocks import BLOCK_SIZE, BlockPool
from slobench.sched.vllm_policy import SarathiPolicy, VllmPolicy


def spec_t(n_tokens: int) -> float:
    """SPEC §6's OPT-13B (2), A100 profile with S = 0."""
    return max(7.213e-5 * n_tokens + 0.03173, 1.2e-5)


def make_req(rid: int, arrival: float, prompt: int, out: int) -> SchedRequest:
    return SchedRequest(rid=rid, arrival_s=arrival, prompt_tokens=prompt, output_tokens=out,
                        expected_output=out, ttft_slo_s=1.0, phase_tpots=((1, 0.05),))


def policy(cls=VllmPolicy, budget: int = 2048, max_seqs: int = 256, kv_blocks: int = 100_000,
           tiers: tuple[float, ...] = (0.05,), **options):
    perf = build_perf_model("opt-13b", "a100", 2)
    kv = BlockPool(kv_blocks)
    ctx = SchedContext(perf=perf, kv=kv, tpot_tiers_s=tiers,
                       options={"max_num_batched_tokens": budget, "max_num_seqs": max_seqs,
                                **options})
    pol = cls(ctx)
    return pol, SimReplica(0, perf, pol, kv)


def drive(pol, rep: SimReplica, reqs: list[SchedRequest], check=None, max_steps: int = 100_000):
    """Run the policy to completion with the simulator's step physics.

    check(pol, running_before, waiting_before, plan) is called after every schedule().
    """
    pending = sorted(reqs, key=lambda r: r.arrival_s)
    now = 0.0
    for _ in range(max_steps):
        while pending and pending[0].arrival_s <= now:
            pol.add_request(pending.pop(0), now, True)
        if not pol.has_work():
            if not pending:
                return
            now = pending[0].arrival_s
            continue
        running_before = list(pol.running)
        waiting_before = list(pol.waiting)
        plan, dt = rep.plan_step(now)
        if check is not None:
            check(pol, running_before, waiting_before, plan)
        assert plan.items, "work left but an empty batch"
        now += dt
        rep.finish_step(now)
    raise AssertionError("did not finish")


def random_requests(seed: int, n: int, max_prompt: int = 3000, max_out: int = 80,
                    horizon: float = 3.0) -> list[SchedRequest]:
    rng = random.Random(seed)
    return [make_req(i, rng.uniform(0, horizon), rng.randint(1, max_prompt),
                     rng.randint(1, max_out)) for i in range(n)]


def test_vllm_admits_fcfs_first_tokens_in_arrival_order() -> None:
    # 12 equal prompts that cannot all prefill in one 2048-token step.
    reqs = [make_req(i, 0.001 * i, 900, 5) for i in range(12)]
    pol, rep = policy()
    drive(pol, rep, reqs)
    firsts = [r.first_token_s for r in sorted(reqs, key=lambda r: r.arrival_s)]
    assert firsts == sorted(firsts)
    assert firsts[0] < firsts[-1]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("budget", "max_seqs"), [(2048, 256), (512, 4), (8192, 3)])
def test_vllm_policy_never_exceeds_token_budget_or_max_num_seqs(
        seed: int, budget: int, max_seqs: int) -> None:
    reqs = random_requests(seed, 40)
    pol, rep = policy(budget=budget, max_seqs=max_seqs, kv_blocks=600)

    def check(pol, running_before, waiting_before, plan):
        assert sum(n for _, n in plan.items) <= budget
        assert all(n >= 1 for _, n in plan.items)
        assert len(plan.items) <= max_seqs
        assert len(pol.running) <= max_seqs
        assert len({id(r) for r, _ in plan.items}) == len(plan.items)

    drive(pol, rep, reqs, check)
    for r in reqs:
        assert r.generated == r.output_tokens
        assert len(r.token_times) == r.output_tokens


@pytest.mark.parametrize("seed", range(6))
def test_vllm_running_requests_are_scheduled_before_waiting_ones(seed: int) -> None:
    reqs = random_requests(seed, 40)
    pol, rep = policy(budget=1024, kv_blocks=500)
    seen_mixed = []

    def check(pol, running_before, waiting_before, plan):
        was_running = {id(r) for r in running_before}
        flags = [id(r) in was_running for r, _ in plan.items]
        # all previously running requests come first, then newly admitted ones
        assert flags == sorted(flags, reverse=True)
        # the running ones in their running order
        ran = [r for r, _ in plan.items if id(r) in was_running]
        assert ran == [r for r in running_before if any(r is x for x in ran)]
        # newly admitted ones in waiting (FCFS) order
        new = [r for r, _ in plan.items if id(r) not in was_running]
        assert new == waiting_before[: len(new)]
        if any(flags) and not all(flags):
            seen_mixed.append(True)

    drive(pol, rep, reqs, check)
    assert seen_mixed, "never had running and waiting requests in one batch"


@pytest.mark.parametrize("seed", range(8))
def test_vllm_preempts_the_newest_running_request(seed: int) -> None:
    # Long outputs in a small KV pool force preemptions.
    reqs = random_requests(seed, 16, max_prompt=200, max_out=300, horizon=0.5)
    pol, rep = policy(budget=2048, kv_blocks=60)
    preemptions = []

    def check(pol, running_before, waiting_before, plan):
        if plan.preempted:
            preemptions.append(plan.preempted)
            # victims are the newest running requests, newest first
            expected = list(reversed(running_before))[: len(plan.preempted)]
            assert plan.preempted == expected
            # no new admission in a step that preempted
            assert all(any(r is x for x in running_before) for r, _ in plan.items)
            for v in plan.preempted:
                assert v.num_computed == 0
                assert rep.kv.held(v) == 0
                assert not any(r is v for r, _ in plan.items)
            # recompute: the victims go back to the front of the queue, oldest first
            assert list(pol.waiting)[: len(plan.preempted)] == list(reversed(plan.preempted))

    drive(pol, rep, reqs, check)
    assert preemptions, "the KV pool was meant to run out"
    for r in reqs:
        assert len(r.token_times) == r.output_tokens


def test_vllm_preemption_victim_is_the_request_admitted_last() -> None:
    # Three one-block prompts fill a three-block pool; the next decode needs a new block.
    reqs = [make_req(i, 0.0, BLOCK_SIZE, 10) for i in range(3)]
    pol, rep = policy(kv_blocks=3)
    for r in reqs:
        pol.add_request(r, 0.0, True)
    plan, dt = rep.plan_step(0.0)
    assert [r for r, _ in plan.items] == reqs and not plan.preempted
    rep.finish_step(dt)
    plan, _ = rep.plan_step(dt)
    # A needs a block: C (newest) goes; B then needs one too and is itself the newest.
    assert plan.preempted == [reqs[2], reqs[1]]
    assert [r for r, _ in plan.items] == [reqs[0]]
    assert list(pol.waiting) == [reqs[1], reqs[2]]


@pytest.mark.parametrize("tiers", [(0.05,), (0.05, 0.1), (0.1, 0.2), (0.045, 0.1)])
@pytest.mark.parametrize("margin", [0.9, 1.0, 0.75])
def test_sarathi_budget_is_the_largest_step_within_tightest_tpot_times_margin(
        tiers: tuple[float, ...], margin: float) -> None:
    pol, _ = policy(SarathiPolicy, tiers=tiers, sarathi_margin=margin)
    target = min(tiers) * margin
    b = pol.token_budget
    assert spec_t(b) <= target + 1e-12
    assert spec_t(b + 1) > target


def test_sarathi_budget_floors_at_one_block_when_no_step_fits_the_tpot() -> None:
    # 0.02 s is below the profile's fixed 0.03173 s per step: nothing fits.
    pol, _ = policy(SarathiPolicy, tiers=(0.02,), sarathi_margin=1.0)
    assert spec_t(1) > 0.02
    assert pol.token_budget == 16  # the policy's floor


@pytest.mark.parametrize("seed", range(3))
def test_sarathi_steps_never_exceed_its_budget(seed: int) -> None:
    reqs = random_requests(seed, 30)
    pol, rep = policy(SarathiPolicy, budget=2048, tiers=(0.05, 0.1))
    budget = pol.token_budget
    assert budget < 2048

    def check(pol, running_before, waiting_before, plan):
        assert sum(n for _, n in plan.items) <= budget

    drive(pol, rep, reqs, check)
    assert all(r.finished for r in reqs)
