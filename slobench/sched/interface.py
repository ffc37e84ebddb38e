"""The policy interface: what a scheduler implements once, for every engine.

The simulator calls it directly; the vLLM plugin adapts vLLM's scheduler
hooks to it. A policy owns one replica's queues and decides, step by step,
which requests get how many tokens. It never does I/O.
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


# (step start time, steps from now) -> the policy would choose the same batch again.
RepeatCheck = Callable[[float, int], bool]


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

    @abstractmethod
    def queue_lengths(self) -> tuple[int, int]:
        """(waiting, running) for the timeline."""

    def steady_decode(self, plan: StepPlan, now: float) -> RepeatCheck | None:
        """Decode fast-forward (simulator only; optional). `plan` was just returned by
        schedule(now) and every item in it is a one-token decode. Return `check(t, j)`,
        True when schedule(t) at the start of the j-th step from now would return the
        same items again, provided nothing was added, nobody finished and every KV
        block asked for was free (the engine checks those); None when it cannot tell.
        The check may not read requests' progress: the engine applies it afterwards."""
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
