"""What an engine reports for one call, before it is judged (engine-agnostic)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from slobench.core.errors import EngineError


class Status(StrEnum):
    OK = "ok"
    REJECTED = "rejected"          # admission control refused it; the client saw it at once
    BEST_EFFORT = "best_effort"    # served from leftover capacity, never counts as attaining
    ERROR = "error"
    TIMEOUT = "timeout"


@dataclass(slots=True)
class CallOutcome:
    session_id: int
    call_index: int
    stage: str
    request_class: str
    scheduled_s: float
    actual_send_s: float
    prompt_tokens: int
    expected_tokens: int
    phase_tpots: tuple[tuple[int, float], ...]
    ttft_slo_s: float
    status: str                     # a Status value
    replica: int = -1
    token_times: list[float] = field(default_factory=list)
    finish_s: float = math.nan
    error: str = ""
    reason: str = ""                # why admission rejected it / made it best-effort

    @property
    def first_token_s(self) -> float:
        return self.token_times[0] if self.token_times else math.nan


# The rejection signal, as the client sees it (one definition: the plugin sends it, the
# router forwards or sends it, the load generator reads it).
STOP_REASON_REJECTED = "slos_rejected"        # stop_reason of a replica's zero-token abort
STOP_REASON_BEST_EFFORT = "slos_best_effort"  # stop_reason on a best-effort request's chunks
REJECTED_TYPE = "slo_rejected"                # error type of the router's rejection event


@dataclass
class ProbeResult:
    """What one probe returns, whatever engine ran it (engines.base.Engine.probe)."""

    outcomes: list[CallOutcome]
    step_overheads_s: list[float]
    replan_overheads_s: list[float]
    end_time_s: float
    backlog_s: float                 # how long after the last arrival the last call finished
    counters: dict[str, int] = field(default_factory=dict)
    # (replica, t, waiting, running, batch_tokens, kv_used): the simulator's, else empty
    timeline: list[tuple] = field(default_factory=list)
    # A real engine's health during the probe (client stalls, page faults): summary columns.
    health: dict[str, float] = field(default_factory=dict)
    # Earlier runs of this probe thrown away for a client stall, kept apart on disk.
    discarded: list[list[CallOutcome]] = field(default_factory=list)
    failure: str | None = None       # the engine failed during the probe (a server died)
    interrupted: bool = False        # Ctrl-C during the probe

    def raise_if_failed(self) -> None:
        """After the probe's rows are on disk: re-raise Ctrl-C, or fail on a dead engine."""
        if self.interrupted:
            raise KeyboardInterrupt
        if self.failure:
            raise EngineError(self.failure)
