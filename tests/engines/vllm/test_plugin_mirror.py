"""A vLLM request's mirror in the core: the SLO envelope from `vllm_xargs`, guarded."""

from __future__ import annotations

import pytest

from slobench.core.request import SloEnvelope
from slobench.engines.vllm.plugin.mirror import NO_SLO_TTFT_S, mirror_request
from slobench.sched.slos.guards import SloGuard

XARGS = SloEnvelope.from_xargs({"ttft_slo_s": 0.2, "tpot_phase_starts": [1, 11],
                                 "tpot_slos_s": [0.05, 0.1], "expected_output_tokens": 30,
                                 "call": "7:2"})


def test_the_slo_is_planned_guarded_and_the_clients_deadline_kept() -> None:
    sr = mirror_request(3, XARGS, 100.0, 64, 40, SloGuard(0.9, 0.01))
    assert sr.has_slo and sr.ttft_slo_s == pytest.approx(0.2 * 0.9 - 0.01)
    assert sr.phase_tpots == ((1, pytest.approx(0.045)), (11, pytest.approx(0.09)))
    assert sr.expected_output == 30 and sr.output_tokens == 40
    assert sr.sched_state["call"] == "7:2"
    assert sr.sched_state["unguarded_deadline_s"] == pytest.approx(100.2)


def test_its_own_deadline_leaves_the_tokens_way_to_the_client() -> None:
    sr = mirror_request(3, XARGS, 100.0, 64, 40, SloGuard(0.9, 0.01, delivery_s=0.004))
    assert sr.sched_state["unguarded_deadline_s"] == pytest.approx(100.196)


def test_its_last_chance_may_be_planned_late_by_the_guards_margin() -> None:
    sr = mirror_request(3, XARGS, 100.0, 64, 40, SloGuard(0.9, 0.012, delivery_s=0.004))
    assert sr.sched_state["last_chance_deadline_s"] == pytest.approx(100.196 + 0.012)


def test_a_negative_delivery_is_refused() -> None:
    with pytest.raises(ValueError, match="delivery_s"):
        SloGuard(0.9, 0.01, delivery_s=-0.001)


def test_without_a_guard_the_slo_stands_as_sent() -> None:
    sr = mirror_request(0, XARGS, 0.0, 64, 40, SloGuard())
    assert sr.ttft_slo_s == 0.2 and "unguarded_deadline_s" not in sr.sched_state
    assert "last_chance_deadline_s" not in sr.sched_state


@pytest.mark.parametrize("xargs", [{}, {"ttft_slo_s": "fast"},
                                   {"ttft_slo_s": 0.2, "tpot_slos_s": []},
                                   {"ttft_slo_s": 0.2, "tpot_phase_starts": [1, 5],
                                    "tpot_slos_s": [0.05]},
                                   {"ttft_slo_s": 0.2, "tpot_slos_s": ["slow"]}])
def test_an_incomplete_slo_is_served_best_effort(xargs: dict) -> None:
    sr = mirror_request(0, SloEnvelope.from_xargs(xargs), 0.0, 64, 40, SloGuard(0.9, 0.01))
    assert not sr.has_slo and sr.ttft_slo_s == NO_SLO_TTFT_S


def test_the_planners_tiers_are_the_guarded_tpots_the_mirrors_carry() -> None:
    guard = SloGuard(0.9, 0.01)
    sr = mirror_request(3, XARGS, 100.0, 64, 40, guard)
    assert guard.tiers((0.1, 0.05)) == pytest.approx((0.045, 0.09))
    assert tuple(sorted(t for _, t in sr.phase_tpots)) == pytest.approx(
        guard.tiers((0.05, 0.1)))
