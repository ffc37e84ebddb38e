"""SLOs-Serve driven by the simulator on the paper's OPT-13B / A100 (tp 2) profile.

The promise of admission control: a request the DP admitted (status ok, neither
best-effort nor rejected) meets its SLO; what cannot be served on time is rejected
or served best-effort, and best-effort work gives way first when KV runs out.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from slobench.engines.requests import RequestFactory, tpot_tiers
from slobench.engines.sim.engine import SimSetup, run_sim_probe
from slobench.metrics.build_records import RunLabels, build_records
from slobench.perf.factory import build_perf_model, kv_capacity_tokens
from slobench.sched.slos.policy import SlosConfig
from slobench.workloads.entities import CallSpec, OutputPhase, SessionSpec, Workload
from slobench.workloads.generate import generate
from slobench.workloads.scenario import load_scenario

GiB = 1 << 30


def spec_t(n: int) -> float:
    """SPEC §6's OPT-13B (2), A100 profile with S = 0."""
    return max(7.213e-5 * n + 0.03173, 1.2e-5)


def perf():
    return build_perf_model("opt-13b", "a100", 2)


def setup(replicas: int = 2, kv_tokens: int | None = None, **slos) -> SimSetup:
    kv = kv_tokens if kv_tokens is not None else kv_capacity_tokens("opt-13b", "a100", 2)
    return SimSetup(perf(), replicas, kv, 80 * GiB, "a100", slos=SlosConfig(**slos))


class RecordingFactory(RequestFactory):
    def __init__(self) -> None:
        super().__init__(perf(), 1.0)
        self.made = []

    def __call__(self, session, index, call, arrival_s):
        req = super().__call__(session, index, call, arrival_s)
        self.made.append(req)
        return req


def handmade(calls: list[tuple[float, int, int, float]], tpot_ms: float = 50.0) -> Workload:
    """(start_s, prompt, output, ttft slowdown) per single-call session."""
    sessions = tuple(
        SessionSpec(i, start, "t", (CallSpec("s", p, (OutputPhase("s", o, tpot_ms),), slow),))
        for i, (start, p, o, slow) in enumerate(sorted(calls, key=lambda c: c[0])))
    return Workload("t", sessions)


def admitted_but_missed(scenario: str, rates: list[float], sessions: int = 150):
    w = generate(load_scenario(scenario), sessions, 0, 16384)
    tiers = tpot_tiers(w, 1.0)
    misses, admitted = [], 0
    for rate in rates:
        res = run_sim_probe(setup(), "slos", w.at_rate(rate), RequestFactory(perf(), 1.0), tiers)
        recs = build_records(res.outcomes, RunLabels("t", scenario, "slos", "sim", rate))
        ok = [r for r in recs if r.status == "ok"]
        admitted += len(ok)
        misses += [(rate, r) for r in ok if not r.attained]
    return misses, admitted


def describe(misses) -> str:
    lines = [f"{len(misses)} admitted requests missed their SLO, e.g."]
    for rate, r in misses[:4]:
        lines.append(f"  rate {rate}: session {r.session_id} prompt {r.prompt_tokens} "
                     f"ttft {r.ttft_s:.3f} s vs slo {r.ttft_slo_s:.3f} s, "
                     f"tpot {r.tpot_s:.4f} vs {r.tpot_slo_s}")
    return "\n".join(lines)


def test_slos_admitted_chatbot_requests_meet_their_slo_at_low_load() -> None:
    misses, admitted = admitted_but_missed("chatbot", [1.0, 4.0])
    assert admitted > 0
    assert not misses, describe(misses)


def test_slos_no_admitted_coding_request_misses_its_slo_low_to_overload() -> None:
    misses, admitted = admitted_but_missed("coding", [0.5, 2.0, 8.0, 32.0])
    assert admitted > 0
    assert not misses, describe(misses)


def test_slos_no_admitted_chatbot_request_misses_its_slo_low_to_overload() -> None:
    misses, admitted = admitted_but_missed("chatbot", [1.0, 4.0, 16.0, 64.0])
    assert admitted > 0
    assert not misses, describe(misses)


def test_slos_short_prompt_admitted_beside_a_long_one_gets_its_first_token_on_time() -> None:
    # B (30 tokens, 5x slowdown) is due 5 * T(30) = 0.169 s after arrival; A (8000
    # tokens) has 3 s. Both fit the plan, but a 0.2 s prefill-only step overshoots B.
    w = handmade([(0.0, 8000, 4, 5.0), (0.0, 30, 4, 5.0)])
    factory = RecordingFactory()
    res = run_sim_probe(setup(replicas=1), "slos", w, factory, (0.05,))
    recs = build_records(res.outcomes, RunLabels("t", "t", "slos", "sim", 1.0))
    for r in recs:
        if r.status == "ok":
            assert r.attained, (r.prompt_tokens, r.ttft_s, r.ttft_slo_s)


@pytest.mark.parametrize("best_effort", [True, False])
def test_slos_request_with_impossible_ttft_is_never_admitted_and_late(best_effort: bool) -> None:
    # 8000-token prompt due in 0.2x its zero-load prefill time: no plan can make it.
    w = handmade([(0.0, 300, 20, 5.0), (0.5, 8000, 20, 0.2), (0.6, 200, 20, 5.0)])
    factory = RecordingFactory()
    res = run_sim_probe(setup(replicas=2, best_effort=best_effort), "slos", w, factory, (0.05,))
    recs = build_records(res.outcomes, RunLabels("t", "t", "slos", "sim", 1.0))
    huge = next(r for r in recs if r.prompt_tokens == 8000)
    assert huge.ttft_slo_s == pytest.approx(0.2 * spec_t(8000))
    assert huge.status == ("best_effort" if best_effort else "rejected")
    assert not huge.attained
    if best_effort:
        assert huge.output_tokens == 20  # still served, from leftover capacity
    else:
        assert huge.output_tokens == 0
    for r in recs:
        assert r.status != "ok" or r.attained


def test_slos_rejects_on_every_replica_before_giving_up_without_best_effort() -> None:
    w = handmade([(0.0, 8000, 5, 0.2)])
    factory = RecordingFactory()
    res = run_sim_probe(setup(replicas=3, best_effort=False), "slos", w, factory, (0.05,))
    (o,) = res.outcomes
    assert o.status == "rejected"
    assert factory.made[0].rejected


def test_slos_rejected_call_is_recorded_with_no_replica() -> None:
    w = handmade([(0.0, 8000, 5, 0.2)])
    res = run_sim_probe(setup(replicas=2, best_effort=False), "slos", w, RecordingFactory(),
                        (0.05,))
    (o,) = res.outcomes
    assert o.status == "rejected"
    assert o.replica == -1


def test_slos_preempts_best_effort_before_admitted_requests_when_kv_runs_out() -> None:
    # 80 blocks (1280 tokens). A best-effort request (impossible TTFT) holds ~30 blocks
    # by t = 1 s; then three admissible requests (3 x (300 + 100) = 1200 reserved tokens
    # <= 0.98 * 1280) need 3 x 19 blocks to prefill: the pool must evict the BE one.
    blocks = 80
    w = handmade([(0.0, 400, 500, 0.2)] + [(1.0, 300, 100, 20.0)] * 3)
    factory = RecordingFactory()
    res = run_sim_probe(setup(replicas=1, kv_tokens=blocks * 16), "slos", w, factory,
                        (0.05,))
    be = [r for r in factory.made if r.best_effort]
    admitted = [r for r in factory.made if not r.best_effort and not r.rejected]
    assert len(be) == 1 and len(admitted) == 3
    assert be[0].num_preemptions > 0
    assert all(r.num_preemptions == 0 for r in admitted)
    for o in res.outcomes:
        assert o.status in ("ok", "best_effort")
        assert len(o.token_times) == o.expected_tokens  # everyone still completes


def test_slos_without_best_effort_config_returns_rejected_status_to_the_client() -> None:
    scen = load_scenario("coding")
    w = generate(scen, 120, 0, 16384).at_rate(40.0)
    tiers = tpot_tiers(w, 1.0)
    res = run_sim_probe(setup(best_effort=False), "slos", w, RequestFactory(perf(), 1.0), tiers)
    statuses = [o.status for o in res.outcomes]
    assert "best_effort" not in statuses
    assert statuses.count("rejected") > 0  # 40 rps of coding overloads two replicas
    for o in res.outcomes:
        if o.status == "rejected":
            assert not o.token_times
    # With it on, the same overload keeps them as best-effort instead.
    res_on = run_sim_probe(replace(setup(), slos=SlosConfig(best_effort=True)), "slos", w,
                           RequestFactory(perf(), 1.0), tiers)
    on = [o.status for o in res_on.outcomes]
    assert "rejected" not in on and on.count("best_effort") > 0
