"""The policy interface: what a scheduler implements once, for every engine.

The simulator calls it directly; the vLLM plugin adapts vLLM's scheduler
hooks to it. A policy owns one replica's queues and decides, step by step,
which requests get how many tokens. It never does I/O.

An adapter talks to a policy through these hooks only (never its queues):
`add_request`, `schedule` (its `StepPlan` says what was rejected, preempted and
released), `on_finished`, `on_aborted`, `serving_order`, `set_tiers`, `set_perf`,
`queue_lengths`, `next_wakeup`; the simulator also asks `steady_decode` and
`steady_after_prefill`. The engine
owns the KV pool (`ctx.kv`): it frees a request's blocks before `on_finished` /
`on_aborted`, and whenever it preempts the request itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from slobench.core.request import SchedRequest
from slobench.perf.model import PerfModel
from slobench.sched.kv_blocks import BlockPool


class Verdict(StrEnum):
    ADMITTED = "admitted"
    PENDING = "pending"          # decided at the next re-plan (SLOs-Serve batches admissions)
    REJECTED = "rejected"
    BEST_EFFORT = "best_effort"


@dataclass
class SchedContext:
    """What a policy may know about its replica and workload."""

    perf: PerfModel
    kv: BlockPool
    tpot_tiers_s: tuple[float, ...]      # distinct TPOT SLOs of the workload, seconds
    options: dict = field(default_factory=dict)


@dataclass(slots=True)
class StepPlan:
    """One batch: (request, tokens to compute) pairs, plus admission news."""

    items: list[tuple[SchedRequest, int]]
    rejected: list[SchedRequest] = field(default_factory=list)
    preempted: list[SchedRequest] = field(default_factory=list)
    replanned: bool = False
    # Requests offered as PENDING that this step's re-plan decided to serve, admitted
    # ones first, then those kept as best-effort (`req.best_effort`), each in the order
    # decided: an engine that holds pending requests out of its queues releases these.
    released: list[SchedRequest] = field(default_factory=list)


# (step start time, steps from now) -> the policy would choose the same batch again.
RepeatCheck = Callable[[float, int], bool]
# serving_order(): (request, sort key) pairs, lower keys served first.
ServingOrder = list[tuple[SchedRequest, tuple[int, float]]]


class ReplicaScheduler(ABC):
    name: str = "?"

    def __init__(self, ctx: SchedContext) -> None:
        self.ctx = ctx

    @abstractmethod
    def add_request(self, req: SchedRequest, now: float, last_try: bool) -> Verdict:
        """Offer a request. `last_try` is True when no other replica will be offered it."""

    @abstractmethod
    def schedule(self, now: float) -> StepPlan:
        """Choose the next batch (allocating KV through ctx.kv, preempting if needed)."""

    @abstractmethod
    def on_finished(self, req: SchedRequest) -> None:
        """The engine finished req (its KV is already freed)."""

    def on_aborted(self, req: SchedRequest) -> None:
        """The engine dropped req unfinished (client abort, engine error; its KV is
        already freed): take it out of whichever queue holds it. A no-op for a request
        the policy does not hold (one it rejected). Default: as finished."""
        self.on_finished(req)

    @abstractmethod
    def queue_lengths(self) -> tuple[int, int]:
        """(waiting, running) for the timeline."""

    def serving_order(self) -> ServingOrder:
        """Every request the policy serves (not pending), each with a sort key: an engine
        that keeps its own queues (vLLM) puts the step's plan first, in plan order, then
        the rest by this key (lower first; equal keys keep the engine's order).
        Default: no preference (the engine's order)."""
        return []

    def set_tiers(self, tiers_s: tuple[float, ...]) -> None:
        """The workload's TPOT tiers changed (an adapter saw a new TPOT SLO)."""
        self.ctx.tpot_tiers_s = tiers_s

    def set_perf(self, perf: PerfModel) -> None:
        """The step-time model changed (refitted online, possibly in place): plan with it."""
        self.ctx.perf = perf

    def next_wakeup(self, now: float) -> float | None:
        """When schedule() may decide differently with no event in between (a re-plan
        timer); None: only after an arrival, a finish or a step."""
        return None

    def steady_decode(self, plan: StepPlan, now: float) -> RepeatCheck | None:
        """Decode fast-forward (simulator only; optional). `plan` was just returned by
        schedule(now) and every item in it is a one-token decode. Return `check(t, j)`,
        True when schedule(t) at the start of the j-th step from now would return the
        same items again, provided nothing was added, nobody finished and every KV
        block asked for was free (the engine checks those); None when it cannot tell.
        The check may not read requests' progress: the engine applies it afterwards."""
        return None

    def steady_after_prefill(self, plan: StepPlan, now: float) -> RepeatCheck | None:
        """As `steady_decode`, for a `plan` (just returned by schedule(now)) whose items
        are one-token decodes and prompts it completes: `check(t, j)` (j >= 1) is True
        when schedule(t) would return every item as a one-token decode. Default None."""
        return None

    def has_work(self) -> bool:
        waiting, running = self.queue_lengths()
        return waiting + running > 0


PolicyFactory = Callable[[SchedContext], ReplicaScheduler]
POLICIES: dict[str, PolicyFactory] = {}


def register_policy(name: str) -> Callable[[type[ReplicaScheduler]], type[ReplicaScheduler]]:
    def wrap(cls: type[ReplicaScheduler]) -> type[ReplicaScheduler]:
        cls.name = name
        POLICIES[name] = cls
        return cls

    return wrap
