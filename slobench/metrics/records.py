"""One row of requests.parquet: what happened to one call (SPEC §8)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter

import pandas as pd


@dataclass(slots=True)
class RequestRecord:
    run_id: str
    scenario: str
    backend: str
    engine: str
    rate: float                    # offered sessions/s of the probe this call belongs to
    replica: int                   # replica that served it (-1: none)
    session_id: int
    call_index: int                # position in the session's chain (0 for single calls)
    stage: str
    request_class: str
    scheduled_send_s: float        # when the workload asked for it to be sent
    actual_send_s: float           # when it was sent (dispatch lag = actual - scheduled)
    first_token_s: float           # NaN when no token came
    finish_s: float                # NaN when it never finished
    prompt_tokens: int
    output_tokens: int             # tokens actually received
    expected_output_tokens: int    # tokens the workload asked for
    ttft_s: float                  # first token - scheduled send (no coordinated omission)
    tpot_s: float                  # (finish - first) / (output tokens - 1); NaN below 2 tokens
    ttft_slo_s: float
    tpot_slo_s: float              # tightest TPOT SLO among the call's output phases
    attained: bool
    status: str
    error: str = ""
    admission_reason: str = ""     # rejected / best_effort: the scheduler's reason (audit)
    session_attained: bool = False  # every call of the session attained (filled per session)

    @property
    def dispatch_lag_s(self) -> float:
        return self.actual_send_s - self.scheduled_send_s


_FIELDS: list[str] = [f.name for f in fields(RequestRecord)]
REQUEST_COLUMNS: list[str] = [*_FIELDS, "dispatch_lag_s"]


def records_frame(records: list[RequestRecord]) -> pd.DataFrame:
    """requests.parquet's frame, with stable columns even when empty. Built column by
    column: `dataclasses.asdict` deep-copies every field of every row."""
    if not records:              # object columns, as pandas gives an empty row list
        frame = pd.DataFrame([], columns=REQUEST_COLUMNS)
    else:
        columns = {name: list(map(attrgetter(name), records)) for name in _FIELDS}
        columns["dispatch_lag_s"] = [r.dispatch_lag_s for r in records]
        frame = pd.DataFrame(columns, columns=REQUEST_COLUMNS)
    return frame.astype({"attained": bool, "session_attained": bool})
