"""Simulator physics on the paper's OPT-13B / A100 (tp 2) reference profile.

Expected times come from SPEC §6's formula, T(N) = max(7.213e-5*N + 0.03173, 1.2e-5)
(no draft steps), not from a previous run.
"""

from __future__ import annotations

import itertools
import random

import pytest

from slobench.engines.offer_order import OfferOrder
from slobench.engines.requests import RequestFactory
from slobench.engines.sim.cluster import SimCluster
from slobench.engines.sim.replica import SimReplica
from slobench.perf.factory import build_perf_model
from slobench.sched.interface import POLICIES, SchedContext
from slobench.sched.kv_blocks import BLOCK_SIZE, BlockPool
from slobench.workloads.entities import CallSpec, OutputPhase, SessionSpec, Workload

import slobench.sched.slos.policy  # isort: skip  (registers "slos")
import slobench.sched.vllm_policy  # noqa: F401  isort: skip  (registers "vllm", "sarathi")

VLLM_BUDGET = 2048  # vLLM's max_num_batched_tokens on an A100


def spec_t(n_tokens: int) -> float:
    """SPEC §6's OPT-13B (2), A100 profile with S = 0."""
    return max(7.213e-5 * n_tokens + 0.03173, 1.2e-5)


def perf():
    return build_perf_model("opt-13b", "a100", 2)


def workload(calls: list[tuple[float, int, int]], tpot_ms: float = 50.0,
             slowdown: float = 5.0) -> Workload:
    """(start_s, prompt tokens, output tokens) per single-call session."""
    sessions = tuple(
        SessionSpec(i, start, "t", (CallSpec("s", p, (OutputPhase("s", o, tpot_ms),),
                                             slowdown),))
        for i, (start, p, o) in enumerate(sorted(calls, key=lambda c: c[0])))
    return Workload("t", sessions)


def cluster(backend: str = "vllm", replicas: int = 1, kv_blocks: int = 1_000_000,
            options: dict | None = None, tiers: tuple[float, ...] = (0.05,)):
    model = perf()
    reps = []
    for i in range(replicas):
        kv = BlockPool(kv_blocks)
        ctx = SchedContext(perf=model, kv=kv, tpot_tiers_s=tiers,
                           options={"max_num_batched_tokens": VLLM_BUDGET,
                                    "max_num_seqs": 256, **(options or {})})
        reps.append(SimReplica(i, model, POLICIES[backend](ctx), kv))
    return SimCluster(reps, OfferOrder(replicas)), reps


class RecordingFactory(RequestFactory):
    """RequestFactory that keeps every SchedRequest it made."""

    def __init__(self, model) -> None:
        super().__init__(model, 1.0)
        self.made = []

    def __call__(self, session, index, call, arrival_s):
        req = super().__call__(session, index, call, arrival_s)
        self.made.append(req)
        return req


def record_step_ends(rep: SimReplica) -> list[float]:
    """Wrap rep.finish_step so every step end time is recorded (a fast-forward run's
    steps all at once, as it ends)."""
    ends: list[float] = []
    original = rep.finish_step

    def finish_step(now: float):
        ends.extend(rep.run.ends if rep.run is not None else [now])
        return original(now)

    rep.finish_step = finish_step  # type: ignore[method-assign]
    return ends


@pytest.mark.parametrize("prompt", [1, 17, 500, 1999, VLLM_BUDGET])
@pytest.mark.parametrize("start", [0.0, 3.25])
def test_lone_request_ttft_is_profile_of_prompt_and_tpot_is_profile_of_one(
        prompt: int, start: float) -> None:
    sim, _ = cluster("vllm")
    out_tokens = 7
    res = sim.run(workload([(start, prompt, out_tokens)]), RequestFactory(perf(), 1.0))
    (o,) = res.outcomes
    assert o.status == "ok"
    assert len(o.token_times) == out_tokens
    assert o.token_times[0] - start == pytest.approx(spec_t(prompt), rel=1e-9)
    for k in range(1, out_tokens):
        gap = o.token_times[k] - o.token_times[k - 1]
        assert gap == pytest.approx(spec_t(1), rel=1e-9)


def test_lone_prompt_over_vllm_budget_is_prefilled_in_budget_sized_chunks() -> None:
    prompt = 2 * VLLM_BUDGET + 300
    sim, _ = cluster("vllm")
    res = sim.run(workload([(0.0, prompt, 2)]), RequestFactory(perf(), 1.0))
    (o,) = res.outcomes
    expected = 2 * spec_t(VLLM_BUDGET) + spec_t(300)
    assert o.token_times[0] == pytest.approx(expected, rel=1e-9)
    assert o.token_times[1] - o.token_times[0] == pytest.approx(spec_t(1), rel=1e-9)


@pytest.mark.parametrize("backend", ["vllm", "sarathi", "slos"])
def test_tokens_are_emitted_in_order_at_step_boundaries(backend: str) -> None:
    rng = random.Random(7)
    calls = [(rng.uniform(0, 4), rng.randint(10, 3000), rng.randint(1, 60)) for _ in range(40)]
    sim, (rep,) = cluster(backend)
    ends = record_step_ends(rep)
    res = sim.run(workload(calls), RequestFactory(perf(), 1.0))
    step_ends = set(ends)
    assert len(res.outcomes) == len(calls)
    for o in res.outcomes:
        times = o.token_times
        assert all(b > a for a, b in itertools.pairwise(times)), "not strictly increasing"
        assert all(t in step_ends for t in times), "a token outside any step end"
        if o.status in ("ok", "best_effort"):
            assert times[0] >= o.scheduled_s


def test_kv_exhaustion_preempts_and_every_request_still_completes() -> None:
    # Each request fits alone (prompt 100 + output 200 = 19 blocks) but 6 of them
    # growing together need 6 * 19 = 114 blocks: a 40-block pool must preempt.
    n, prompt, out = 6, 100, 200
    blocks = 40
    assert -(-(prompt + out) // BLOCK_SIZE) <= blocks < n * -(-(prompt + out) // BLOCK_SIZE)
    sim, (rep,) = cluster("vllm", kv_blocks=blocks)
    factory = RecordingFactory(perf())
    res = sim.run(workload([(0.01 * i, prompt, out) for i in range(n)]), factory)
    assert res.counters["preemptions"] > 0
    assert sum(r.num_preemptions for r in factory.made) == res.counters["preemptions"]
    for o in res.outcomes:
        assert o.status == "ok"
        assert len(o.token_times) == out
        assert o.finish_s == o.token_times[-1]
    assert rep.kv.free_blocks == blocks  # every block came back


def test_same_time_arrivals_are_batched_together_in_the_first_step() -> None:
    prompts = [300, 500, 700]
    assert sum(prompts) <= VLLM_BUDGET
    sim, _ = cluster("vllm")
    res = sim.run(workload([(1.0, p, 3) for p in prompts]), RequestFactory(perf(), 1.0))
    # One step prefills all three: each first token comes at T(sum of prompts).
    for o in res.outcomes:
        assert o.token_times[0] - 1.0 == pytest.approx(spec_t(sum(prompts)), rel=1e-9)


def test_a_fitted_profile_times_a_simulated_prefill_on_its_chunk_pairs() -> None:
    from slobench.core.request import SchedRequest
    from slobench.engines.sim.replica import SimReplica
    from slobench.perf.step_profile import StepProfile
    from slobench.sched.interface import SchedContext, StepPlan
    from slobench.sched.kv_blocks import BlockPool

    coef = {"const": 0.005, "prefill_tokens": 1e-4, "decode_tokens": 1e-3,
            "context_tokens": 1e-7, "prefill_attention": 1e-8, "draft_steps": 0.0}
    profile = StepProfile(coef)
    long = SchedRequest(rid=0, arrival_s=0.0, prompt_tokens=4096, output_tokens=4,
                        expected_output=4, ttft_slo_s=10.0, phase_tpots=((1, 1.0),))
    long.num_computed = 2048                   # its second chunk of 1,024
    decode = SchedRequest(rid=1, arrival_s=0.0, prompt_tokens=3000, output_tokens=9,
                          expected_output=9, ttft_slo_s=10.0, phase_tpots=((1, 1.0),))
    decode.num_computed, decode.generated = 3004, 5

    class OnePlan:
        def schedule(self, now: float) -> StepPlan:
            return StepPlan(items=[(long, 1024), (decode, 1)])

    ctx = SchedContext(perf=profile, kv=BlockPool(1000), tpot_tiers_s=(1.0,))
    rep = SimReplica(0, profile, OnePlan(), ctx.kv)      # type: ignore[arg-type]
    _, dt = rep.plan_step(0.0)
    context = 2048 + 3004 + 1024 + 1
    assert dt == pytest.approx(profile.step_time_of_chunks(1024, 1, context, 0,
                                                           1024 * (2048 + 1024)))
    assert dt < profile.step_time(1024, 1, context)
