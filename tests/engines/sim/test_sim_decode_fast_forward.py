"""Decode fast-forward changes how fast the simulator runs, never what it finds.

The reference is the same simulation stepped one batch at a time (fast-forward off):
every request's token times, status, replica and admission reason, the timeline, the
preemption count and the number of scheduler-overhead samples must come out identical,
and so the attainment built from them. Small seeded workloads near capacity, on a KV
pool small enough that preemptions and KV-bound stops happen.
"""

from __future__ import annotations

import dataclasses

import pytest

from slobench.core.outcome import ProbeResult
from slobench.core.request import SchedRequest
from slobench.engines.requests import LengthPredictor, RequestFactory, tpot_tiers
from slobench.engines.sim import replica as replica_module
from slobench.engines.sim.engine import SimSetup, run_sim_probe
from slobench.metrics.build_records import RunLabels, build_records
from slobench.perf.factory import build_perf_model, kv_capacity_tokens
from slobench.sched.interface import SchedContext, StepPlan
from slobench.sched.kv_blocks import BlockPool
from slobench.sched.slos.policy import SlosConfig
from slobench.sched.vllm_policy import VllmSpecPolicy
from slobench.workloads.generate import generate
from slobench.workloads.scenario import load_scenario

GiB = 1 << 30
SPEC_ALPHA = 0.7
CASES = [("chatbot", 24.0), ("coding", 1.5), ("reasoning", 1.4), ("tool_calling", 1.0)]


def _probe(scenario: str, rate: float, backend: str, fast_forward: bool,
           kv_tokens: int | None = None, predicted: bool = False,
           spec_tokens: int = 0) -> ProbeResult:
    perf = build_perf_model("opt-13b", "a100", 2)
    kv = kv_tokens or kv_capacity_tokens("opt-13b", "a100", 2)
    slos = SlosConfig(alpha=SPEC_ALPHA, max_draft=spec_tokens + 1
                      ) if spec_tokens else SlosConfig()
    setup = SimSetup(perf, 2, kv, 80 * GiB, "a100", fast_forward=fast_forward, slos=slos,
                     spec_acceptance=SPEC_ALPHA if spec_tokens else 0.0,
                     spec_tokens=spec_tokens)
    workload = generate(load_scenario(scenario), 150, 3, 16384)
    predictor = LengthPredictor(workload, 0.5) if predicted else None
    return run_sim_probe(setup, backend, workload.at_rate(rate),
                         RequestFactory(perf, 1.0, predictor), tpot_tiers(workload, 1.0))


def _assert_same(ref: ProbeResult, fast: ProbeResult) -> None:
    assert len(ref.outcomes) == len(fast.outcomes)
    for a, b in zip(ref.outcomes, fast.outcomes, strict=True):
        assert dataclasses.astuple(a) == dataclasses.astuple(b)
    assert ref.timeline == fast.timeline
    assert ref.counters == fast.counters
    assert len(ref.step_overheads_s) == len(fast.step_overheads_s)
    assert len(ref.replan_overheads_s) == len(fast.replan_overheads_s)
    assert ref.end_time_s == fast.end_time_s
    labels = RunLabels("r", "s", "b", "sim", 1.0)
    attained = [r.attained for r in build_records(ref.outcomes, labels)]
    assert attained == [r.attained for r in build_records(fast.outcomes, labels)]


@pytest.fixture
def run_steps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every fast-forward run started, so a test can tell that it ran."""
    steps: list[int] = []
    original = replica_module.plan_run

    def counting(*args, **kwargs):
        run = original(*args, **kwargs)
        if run is not None:
            steps.append(run.steps)
        return run

    monkeypatch.setattr(replica_module, "plan_run", counting)
    return steps


@pytest.mark.parametrize("backend", ["vllm", "sarathi", "slos"])
@pytest.mark.parametrize(("scenario", "rate"), CASES)
def test_fast_forward_gives_the_step_by_step_results(scenario: str, rate: float,
                                                     backend: str, run_steps: list[int]) -> None:
    ref = _probe(scenario, rate, backend, fast_forward=False)
    assert not run_steps
    fast = _probe(scenario, rate, backend, fast_forward=True)
    assert sum(run_steps) > len(run_steps)      # it did advance several steps at once
    _assert_same(ref, fast)


@pytest.mark.parametrize("backend", ["vllm", "slos"])
def test_a_run_may_end_with_the_step_that_finishes_a_request(
        backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's last step may give a request its last token: it finishes at the run's end,
    as it would have at that step's end."""
    finished_in_runs: list[int] = []
    apply = replica_module.DecodeRun.apply

    def counting(run, kv):
        applied = apply(run, kv)
        finished_in_runs.append(sum(r.generated >= r.output_tokens for r in run.reqs))
        return applied

    monkeypatch.setattr(replica_module.DecodeRun, "apply", counting)
    ref = _probe("chatbot", 24.0, backend, fast_forward=False)
    fast = _probe("chatbot", 24.0, backend, fast_forward=True)
    assert sum(finished_in_runs) > 0
    _assert_same(ref, fast)


@pytest.mark.parametrize("backend", ["vllm", "sarathi"])
@pytest.mark.parametrize(("scenario", "rate"), CASES)
def test_a_run_may_open_with_the_step_completing_prompts(
        backend: str, scenario: str, rate: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """vLLM's step that completes prompts (nobody left waiting) opens a run: the prompts
    decode from the next step on beside the rest, as stepped one by one."""
    opened: list[bool] = []
    original = replica_module.plan_run

    def recording(*args, **kwargs):
        run = original(*args, **kwargs)
        if run is not None:
            opened.append(run.opens_with_prefill)
        return run

    monkeypatch.setattr(replica_module, "plan_run", recording)
    ref = _probe(scenario, rate, backend, fast_forward=False)
    fast = _probe(scenario, rate, backend, fast_forward=True)
    assert any(opened)
    _assert_same(ref, fast)


def test_slos_fast_forwards_best_effort_work_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing admitted, SLOs-Serve's best-effort decodes repeat as one run."""
    alone: list[bool] = []
    original = replica_module.plan_run

    def recording(items, *args, **kwargs):
        run = original(items, *args, **kwargs)
        if run is not None:
            alone.append(all(r.best_effort for r, _ in items))
        return run

    monkeypatch.setattr(replica_module, "plan_run", recording)
    ref = _probe("coding", 1.5, "slos", fast_forward=False)
    fast = _probe("coding", 1.5, "slos", fast_forward=True)
    assert any(alone)
    _assert_same(ref, fast)


@pytest.mark.parametrize("backend", ["vllm", "slos"])
@pytest.mark.parametrize("kv_tokens", [8_000, 16_000])
def test_fast_forward_stops_where_kv_runs_out(backend: str, kv_tokens: int,
                                              run_steps: list[int]) -> None:
    """A pool this small preempts (vLLM) and evicts best-effort work (SLOs-Serve)."""
    ref = _probe("coding", 3.0, backend, fast_forward=False, kv_tokens=kv_tokens)
    fast = _probe("coding", 3.0, backend, fast_forward=True, kv_tokens=kv_tokens)
    assert run_steps
    assert ref.counters["preemptions"] > 0
    _assert_same(ref, fast)


def test_fast_forward_keeps_predicted_lengths_growing_on_time(run_steps: list[int]) -> None:
    """Unknown output lengths: a decode past its prediction is re-predicted at its step."""
    ref = _probe("chatbot", 20.0, "slos", fast_forward=False, predicted=True)
    fast = _probe("chatbot", 20.0, "slos", fast_forward=True, predicted=True)
    assert run_steps
    _assert_same(ref, fast)


@pytest.mark.parametrize(("scenario", "rate"), CASES)
def test_drafting_vllm_spec_is_never_fast_forwarded(scenario: str, rate: float,
                                                    run_steps: list[int]) -> None:
    """vllm_spec drafts every decode step and the simulator draws each step's accepted
    drafts: no stretch of its steps is known ahead, so none runs as one; on or off, the
    same draws in the same order give the same results."""
    ref = _probe(scenario, rate, "vllm_spec", fast_forward=False, spec_tokens=3)
    fast = _probe(scenario, rate, "vllm_spec", fast_forward=True, spec_tokens=3)
    assert not run_steps
    _assert_same(ref, fast)
    assert ref.outcomes != _probe(scenario, rate, "vllm", fast_forward=False).outcomes


@pytest.mark.parametrize(("scenario", "rate"), CASES[:2])
def test_drafting_slos_fast_forward_gives_the_step_by_step_results(
        scenario: str, rate: float) -> None:
    """SLOs-Serve with drafts on: only its draft-free pure-decode stretches may run as one."""
    ref = _probe(scenario, rate, "slos", fast_forward=False, spec_tokens=3)
    fast = _probe(scenario, rate, "slos", fast_forward=True, spec_tokens=3)
    _assert_same(ref, fast)


def test_vllm_spec_declines_a_one_token_decode_plan() -> None:
    """Even a plan of one-token decodes (e.g. the drafts cut by the budget) is not steady
    for a drafting policy: its next step may verify drafts again."""
    perf = build_perf_model("opt-13b", "a100", 2)
    ctx = SchedContext(perf=perf, kv=BlockPool(10_000), tpot_tiers_s=[0.05],
                       options={"spec_tokens": 3})
    policy = VllmSpecPolicy(ctx)
    req = SchedRequest.__new__(SchedRequest)
    policy.running.append(req)
    assert policy.steady_decode(StepPlan(items=[(req, 1)]), 0.0) is None
