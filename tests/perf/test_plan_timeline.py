"""A twin's replica plans with what its real replica planned with, instant by instant
(perf/plan_timeline.py): the state in force at a probe's start, then each logged change
when its time comes."""

from __future__ import annotations

import pytest

from slobench.perf.factory import build_perf_model
from slobench.perf.plan_timeline import PlanFollower, PlanState, PlanTimeline
from slobench.perf.step_profile import FEATURES

COEF = (0.003, 2e-5, 3e-4, 5e-7, 2e-8, 0.0, 0.007)


def _state(prefill: float, decode: float = 1.1) -> PlanState:
    return PlanState(COEF, prefill, decode, max(prefill, decode), 1.0)


TIMELINE = PlanTimeline((100.0, 105.0, 112.0, 130.0),
                        (_state(1.2), _state(1.6), _state(1.3), _state(2.0)))


def test_a_window_starts_with_the_state_in_force_and_reads_the_probes_clock() -> None:
    window = TIMELINE.window(103.0, 120.0)
    assert window.times == (0.0, 2.0, 9.0)
    assert [s.prefill for s in window.states] == [1.2, 1.6, 1.3]


def test_a_window_before_any_state_has_none_in_force_at_its_start() -> None:
    window = TIMELINE.window(90.0, 106.0)
    assert window.times == (10.0, 15.0)
    assert [s.prefill for s in window.states] == [1.2, 1.6]


def test_the_follower_plans_on_each_state_from_its_time_on() -> None:
    before = build_perf_model("opt-13b", "a100", 2)
    follower = PlanFollower(TIMELINE.window(103.0), before)
    assert follower.advance(0.0)                      # the state in force at the start
    assert follower.model is not before
    one_token = follower.model.step_time(256, 8, 4096)
    assert not follower.advance(1.9)                  # nothing new before 2 s
    assert follower.advance(2.0)
    assert follower.model.step_time(256, 8, 4096) == pytest.approx(one_token * 1.6 / 1.2)
    assert follower.advance(100.0)                    # two due at once: the later wins
    assert follower.model.inflation == 2.0            # type: ignore[attr-defined]
    assert not follower.advance(200.0)


def test_before_the_first_state_the_follower_keeps_the_given_model() -> None:
    before = build_perf_model("opt-13b", "a100", 2)
    follower = PlanFollower(TIMELINE.window(90.0), before)
    assert not follower.advance(9.9)
    assert follower.model is before
    assert follower.advance(10.0) and follower.model is not before


def test_states_and_timelines_that_cannot_be_are_refused() -> None:
    with pytest.raises(ValueError, match=f"{len(FEATURES)} values"):
        PlanState(COEF[:3], 1.2, 1.1, 1.2)
    with pytest.raises(ValueError, match="decode inflation"):
        PlanState(COEF, 1.2, 0.5, 1.2)
    with pytest.raises(ValueError, match="sorted"):
        PlanTimeline((2.0, 1.0), (_state(1.2), _state(1.3)))
