"""A twin's SLOs-Serve replica plans with the model its real replica had at each instant
(SimSetup.plan_timelines): a prompt it admits while the logged model is at its profile
is turned away once the log says the engine ran at 3x, as the real replica did."""

from __future__ import annotations

from slobench.engines.requests import RequestFactory
from slobench.engines.sim.engine import SimSetup, run_sim_probe
from slobench.perf.feedback import OnlineStepModel
from slobench.perf.plan_timeline import PlanState, PlanTimeline
from slobench.perf.step_profile import FEATURES, StepProfile
from slobench.sched.slos.config import SlosConfig
from slobench.workloads.entities import CallSpec, OutputPhase, SessionSpec, Workload

COEF = (0.0035, 2.1e-5, 2.8e-4, 4.6e-7, 2.2e-8, 0.0, 0.007)
PROFILE = StepProfile(dict(zip(FEATURES, COEF, strict=True)))
AT_PROFILE = PlanState(COEF, 1.0, 1.0, 1.0, 1.0)
SLOW = PlanState(COEF, 3.0, 3.0, 3.0, 3.0)


def _statuses(timelines: tuple[PlanTimeline | None, ...] | None) -> list[str]:
    plan = OnlineStepModel(PROFILE).frozen_at(PROFILE, 1.0, 1.0, 1.0, 1.0)
    setup = SimSetup(PROFILE, 1, 200_000, 1.0, "engine", slos=SlosConfig.for_real_engine(),
                     vllm_limits=(2048, 256), plan_perf=plan, plan_timelines=timelines)
    # A 2,000-token prompt with twice its zero-load prefill time to its first token.
    call = CallSpec("s", 2000, (OutputPhase("s", 4, 200.0),), 2.0)
    workload = Workload("t", (SessionSpec(0, 1.0, "t", (call,)),
                              SessionSpec(1, 6.0, "t", (call,))))
    res = run_sim_probe(setup, "slos", workload, RequestFactory(PROFILE, 1.0), (0.2,))
    return [o.status for o in sorted(res.outcomes, key=lambda o: o.session_id)]


def test_the_replica_turns_away_what_the_logged_slow_model_cannot_fit() -> None:
    timeline = PlanTimeline((0.0, 5.0), (AT_PROFILE, SLOW))
    assert _statuses((timeline,)) == ["ok", "rejected"]


def test_without_a_timeline_it_plans_on_its_one_model_throughout() -> None:
    assert _statuses(None) == ["ok", "ok"]
    assert _statuses((None,)) == ["ok", "ok"]
