"""A real run's twin plans SLOs-Serve on the TPOT tiers the plugin learns from its
guarded mirrors (`SloGuard.tiers`), stock vLLM on none: the twin of a chatbot run
planned 80-ms steps where the plugin ran 72."""

from __future__ import annotations

import dataclasses

import pytest

from slobench.engines.requests import RequestFactory
from slobench.engines.sim import engine as sim_engine
from slobench.engines.sim.engine import SimSetup, run_sim_probe
from slobench.perf.factory import build_perf_model, kv_capacity_tokens
from slobench.sched.slos.guards import SloGuard
from slobench.workloads.entities import CallSpec, OutputPhase, SessionSpec, Workload

GiB = 1 << 30
PERF = build_perf_model("opt-13b", "a100", 2)
TIERS = (0.05, 0.1)


def _tiers_planned(backend: str, guard: SloGuard | None,
                   monkeypatch: pytest.MonkeyPatch) -> set[tuple[float, ...]]:
    seen: set[tuple[float, ...]] = set()
    policies = dict(sim_engine.POLICIES)

    def built(ctx):                     # the policy as the simulator builds it
        seen.add(tuple(ctx.tpot_tiers_s))
        return policies[backend](ctx)

    monkeypatch.setitem(sim_engine.POLICIES, backend, built)
    setup = SimSetup(PERF, 2, kv_capacity_tokens("opt-13b", "a100", 2), 80 * GiB, "a100",
                     slo_guard=guard)
    call = CallSpec("s", 64, (OutputPhase("s", 4, 100.0),), 5.0)
    workload = Workload("t", tuple(SessionSpec(i, 0.1 * i, "t", (call,)) for i in range(4)))
    res = run_sim_probe(setup, backend, workload, RequestFactory(PERF, 1.0), TIERS)
    assert len(res.outcomes) == 4
    return seen


def test_slos_plans_on_the_guarded_tiers(monkeypatch: pytest.MonkeyPatch) -> None:
    guard = SloGuard(slo_factor=0.9, ttft_early_s=0.01)
    assert _tiers_planned("slos", guard, monkeypatch) == {guard.tiers(TIERS)}
    assert guard.tiers(TIERS) == pytest.approx((0.045, 0.09))


def test_without_a_guard_and_for_stock_vllm_the_tiers_stand(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert _tiers_planned("slos", None, monkeypatch) == {TIERS}
    guard = dataclasses.replace(SloGuard(), slo_factor=0.8)
    assert _tiers_planned("vllm", guard, monkeypatch) == {TIERS}
