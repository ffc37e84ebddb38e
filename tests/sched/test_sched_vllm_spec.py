"""vLLM with speculative decoding (`vllm_spec`) as the simulator runs it: a fixed number
of drafts per decode step, verified through the same acceptance model as SLOs-Serve's."""

from __future__ import annotations

import pytest

from slobench.core.request import SchedRequest
from slobench.engines.sim.replica import SimReplica
from slobench.perf.factory import build_perf_model
from slobench.sched.interface import POLICIES, SchedContext
from slobench.sched.kv_blocks import BlockPool
from slobench.sched.slos.speculative import verified_tokens
from slobench.sched.vllm_policy import VllmPolicy, VllmSpecPolicy


def make_req(rid: int, prompt: int, out: int) -> SchedRequest:
    return SchedRequest(rid=rid, arrival_s=0.0, prompt_tokens=prompt, output_tokens=out,
                        expected_output=out, ttft_slo_s=1.0, phase_tpots=((1, 0.05),))


def replica(cls: type[VllmPolicy], alpha: float = 0.0, budget: int = 2048,
            **options: object) -> tuple[VllmPolicy, SimReplica]:
    perf = build_perf_model("opt-13b", "a100", 2)
    kv = BlockPool(100_000)
    ctx = SchedContext(perf=perf, kv=kv, tpot_tiers_s=(0.05,),
                       options={"max_num_batched_tokens": budget, "max_num_seqs": 256,
                                **options})
    pol = cls(ctx)
    return pol, SimReplica(0, perf, pol, kv, spec_acceptance=alpha, seed=1)


def step(rep: SimReplica, now: float) -> tuple[list[tuple[SchedRequest, int]], float]:
    plan, dt = rep.plan_step(now)
    items = [(r, n) for r, n in plan.items]
    rep.finish_step(now + dt)
    return items, now + dt


def test_verified_tokens_is_drafts_plus_one_capped_by_what_is_left() -> None:
    assert verified_tokens(4, 100) == 5
    assert verified_tokens(4, 3) == 3
    assert verified_tokens(0, 100) == 1
    assert verified_tokens(4, 0) == 1
    with pytest.raises(ValueError):
        verified_tokens(-1, 10)


def test_vllm_spec_is_registered_and_needs_drafts() -> None:
    assert POLICIES["vllm_spec"] is VllmSpecPolicy
    with pytest.raises(ValueError, match="spec_tokens"):
        replica(VllmSpecPolicy)
    with pytest.raises(ValueError, match="spec_tokens"):
        replica(VllmSpecPolicy, spec_tokens=0)


def test_decodes_verify_k_plus_one_tokens_prefills_unchanged() -> None:
    pol, rep = replica(VllmSpecPolicy, alpha=0.7, spec_tokens=3)
    a, b = make_req(0, 100, 50), make_req(1, 40, 2)
    pol.add_request(a, 0.0, True)
    pol.add_request(b, 0.0, True)
    items, now = step(rep, 0.0)
    assert [(r.rid, n) for r, n in items] == [(0, 100), (1, 40)]   # prefills as vLLM's
    items, now = step(rep, now)
    # a decodes with 3 drafts; b has 1 token left, so it verifies no draft past its end.
    assert [(r.rid, n) for r, n in items] == [(0, 4), (1, 1)]


def test_plain_vllm_never_drafts_even_with_the_option() -> None:
    pol, rep = replica(VllmPolicy, alpha=0.7, spec_tokens=3)   # the option is vllm_spec's
    req = make_req(0, 64, 20)
    pol.add_request(req, 0.0, True)
    now, steps = 0.0, 0
    while pol.has_work():
        items, now = step(rep, now)
        steps += 1
        assert steps == 1 or [n for _, n in items] == [1]
    assert steps == 20 and req.generated == 20      # the prefill's token, then 19 decodes


def test_drafts_share_the_token_budget() -> None:
    pol, rep = replica(VllmSpecPolicy, alpha=0.0, budget=8, spec_tokens=4)
    for i in range(2):
        pol.add_request(make_req(i, 4, 30), 0.0, True)
    now = step(rep, 0.0)[1]
    items, _ = step(rep, now)
    assert [n for _, n in items] == [5, 3]          # the second decode gets what is left


def test_speculation_finishes_every_request_exactly_and_in_fewer_steps() -> None:
    def run(cls: type[VllmPolicy], **options: object) -> tuple[int, list[int]]:
        pol, rep = replica(cls, alpha=0.8, **options)
        reqs = [make_req(i, 30 + i, 40 + 7 * i) for i in range(6)]
        for r in reqs:
            pol.add_request(r, 0.0, True)
        now, steps = 0.0, 0
        while pol.has_work():
            now = step(rep, now)[1]
            steps += 1
        assert all(r.finish_s is not None for r in reqs)
        assert all(len(r.token_times) == r.output_tokens for r in reqs)
        return steps, [r.generated for r in reqs]

    plain_steps, plain_out = run(VllmPolicy)
    spec_steps, spec_out = run(VllmSpecPolicy, spec_tokens=4)
    assert spec_out == plain_out                  # exactly each request's output length
    assert spec_steps < plain_steps               # accepted drafts save decode steps
