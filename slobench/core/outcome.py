"""What an engine reports for one call, before it is judged (engine-agnostic)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum


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
