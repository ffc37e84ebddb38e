"""Speculative decode steps in the simulator: a decode item of n tokens verifies n - 1
drafts, accepted one by one with the replica's acceptance rate."""

from __future__ import annotations

import pytest

from slobench.core.request import SchedRequest
from slobench.engines.sim.replica import SimReplica
from slobench.perf.measured import MeasuredModel
from slobench.sched.interface import StepPlan
from slobench.sched.kv_blocks import BlockPool

PERF = MeasuredModel(base_s=0.002, per_token_s=1e-4, decode_step_s=0.002, points={})


class FixedPlan:
    """A scheduler stand-in that asks for the same decode item every step."""

    def __init__(self, req: SchedRequest, n: int) -> None:
        self.req, self.n, self.finished = req, n, []

    def schedule(self, now: float) -> StepPlan:
        return StepPlan(items=[(self.req, self.n)])

    def on_finished(self, req: SchedRequest) -> None:
        self.finished.append(req)


def decoding(output_tokens: int = 200, prompt: int = 10) -> SchedRequest:
    r = SchedRequest(rid=0, arrival_s=0.0, prompt_tokens=prompt, output_tokens=output_tokens,
                     expected_output=output_tokens, ttft_slo_s=1.0, phase_tpots=((1, 0.05),))
    r.num_computed, r.generated, r.first_token_s = prompt, 1, 0.0
    r.token_times.append(0.0)
    return r


def run_steps(acceptance: float, n: int, steps: int, req: SchedRequest,
              seed: int = 0) -> tuple[SimReplica, list[int]]:
    kv = BlockPool(1000)
    sched = FixedPlan(req, n)
    replica = SimReplica(0, PERF, sched, kv, spec_acceptance=acceptance, seed=seed)  # type: ignore[arg-type]
    made = []
    now = 0.0
    for _ in range(steps):
        if req.generated >= req.output_tokens:
            break
        kv.allocate(req, n)
        _, dt = replica.plan_step(now)
        now += dt
        before = req.generated
        replica.finish_step(now)
        made.append(req.generated - before)
        # The decode invariant every scheduler relies on: the newest token is not in KV yet.
        assert req.num_computed == req.prompt_tokens + req.generated - 1
        assert len(req.token_times) == req.generated
    return replica, made


def test_without_acceptance_a_speculative_step_yields_one_token() -> None:
    _, made = run_steps(0.0, 4, 50, decoding())
    assert made == [1] * 50


def test_speculative_step_yields_between_one_and_the_verified_tokens() -> None:
    _, made = run_steps(0.7, 4, 100, decoding(1000))
    assert set(made) <= {1, 2, 3, 4} and len(set(made)) > 1
    # E(4) at alpha 0.7 = 1 + .7 + .49 + .343 = 2.53 tokens per step.
    assert 2.2 < sum(made) / len(made) < 2.9


def test_speculation_never_generates_past_the_output_length() -> None:
    req = decoding(output_tokens=6)
    replica, _ = run_steps(0.95, 4, 10, req)
    assert req.generated == 6 and req.finish_s >= 0
    assert replica.scheduler.finished == [req]


def test_acceptance_draws_are_seeded() -> None:
    _, a = run_steps(0.5, 3, 60, decoding(1000), seed=3)
    _, b = run_steps(0.5, 3, 60, decoding(1000), seed=3)
    _, c = run_steps(0.5, 3, 60, decoding(1000), seed=4)
    assert a == b and a != c


def test_verification_tokens_count_in_the_step_time() -> None:
    req = decoding(1000)
    plain = SimReplica(0, PERF, FixedPlan(req, 1), BlockPool(1000))  # type: ignore[arg-type]
    spec = SimReplica(0, PERF, FixedPlan(req, 4), BlockPool(1000))  # type: ignore[arg-type]
    assert spec.plan_step(0.0)[1] > plain.plan_step(0.0)[1]


def test_acceptance_outside_zero_one_is_refused() -> None:
    with pytest.raises(ValueError, match="spec_acceptance"):
        SimReplica(0, PERF, FixedPlan(decoding(), 1), BlockPool(10), spec_acceptance=1.0)  # type: ignore[arg-type]
