"""A re-plan first tries every candidate against the admitted set at its largest (all
at their final size at once) and works out the KV peak only when that does not settle
it: the bound is never below the peak, to the last bit, and the probes come out as
with the peak worked out at every re-plan."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slobench.core.request import SchedRequest
from slobench.engines.requests import RequestFactory, tpot_tiers
from slobench.engines.sim.engine import SimSetup, run_sim_probe
from slobench.perf.factory import build_perf_model, kv_capacity_tokens
from slobench.sched.slos import replan as replan_module
from slobench.sched.slos.config import SlosConfig
from slobench.sched.slos.kv_peak import admitted_peak_kv
from slobench.workloads.generate import generate
from slobench.workloads.scenario import load_scenario

GiB = 1 << 30


def _request(rid: int, prompt: int, generated: int, expected: int, first: float) -> SchedRequest:
    return SchedRequest(rid=rid, arrival_s=0.0, prompt_tokens=prompt,
                        output_tokens=expected, expected_output=expected, ttft_slo_s=0.5,
                        phase_tpots=((1, 0.05),), generated=generated,
                        num_computed=prompt + generated - 1 if generated else 0,
                        first_token_s=first if generated else math.nan)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 800), st.integers(1, 3000),
                          st.floats(0.0, 30.0)), min_size=1, max_size=80),
       st.floats(0.0, 20.0), st.sampled_from([0.001, 0.012, 0.05]))
def test_bound_is_never_below_the_peak(rows: list, now: float, fastest: float) -> None:
    admitted = [_request(i, p, min(g, e - 1), e, first)
                for i, (p, g, e, first) in enumerate(rows)]
    policy = SimpleNamespace(admitted=admitted, cfg=SlosConfig())   # what the bound reads
    bound = replan_module._admitted_kv_bound(policy)  # type: ignore[arg-type]
    assert bound >= admitted_peak_kv(admitted, now, fastest)


def _probe(scenario: str, rate: float) -> list:
    perf = build_perf_model("opt-13b", "a100", 2)
    setup = SimSetup(perf, 2, kv_capacity_tokens("opt-13b", "a100", 2), 80 * GiB, "a100")
    workload = generate(load_scenario(scenario), 150, 3, 16384)
    res = run_sim_probe(setup, "slos", workload.at_rate(rate), RequestFactory(perf, 1.0),
                        tpot_tiers(workload, 1.0))
    return [dataclasses.astuple(o) for o in res.outcomes] + [res.timeline]


@pytest.mark.parametrize(("scenario", "rate"), [("chatbot", 24.0), ("coding", 1.5),
                                                ("reasoning", 1.4)])
def test_probes_come_out_as_with_the_peak_at_every_replan(
        scenario: str, rate: float, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _probe(scenario, rate)
    # A bound no candidate fits beside: every re-plan works the peak out.
    monkeypatch.setattr(replan_module, "_admitted_kv_bound", lambda policy: math.inf)
    assert _probe(scenario, rate) == fast
