"""requests.parquet's frame is the records' fields, row for row, as `asdict` gives them."""

from __future__ import annotations

import math
from dataclasses import asdict

import pandas as pd

from slobench.metrics.records import REQUEST_COLUMNS, RequestRecord, records_frame


def _record(i: int) -> RequestRecord:
    return RequestRecord(
        run_id="r", scenario="chatbot", backend="slos", engine="sim", rate=1.5,
        replica=i % 2, session_id=i // 2, call_index=i % 2, stage="chat", request_class="c",
        scheduled_send_s=0.1 * i, actual_send_s=0.1 * i + 0.003,
        first_token_s=math.nan if i % 5 == 0 else 0.1 * i + 0.2, finish_s=2.0 + i,
        prompt_tokens=100 + i, output_tokens=i, expected_output_tokens=i + 1,
        ttft_s=0.2, tpot_s=math.nan if i < 2 else 0.04, ttft_slo_s=1.0, tpot_slo_s=0.05,
        attained=i % 3 == 0, status="ok" if i % 4 else "rejected",
        admission_reason="" if i % 4 else "kv", session_attained=i % 2 == 0)


def _reference(records: list[RequestRecord]) -> pd.DataFrame:
    rows = [asdict(r) | {"dispatch_lag_s": r.dispatch_lag_s} for r in records]
    return pd.DataFrame(rows, columns=REQUEST_COLUMNS).astype(
        {"attained": bool, "session_attained": bool})


def test_records_frame_equals_the_rows_asdict_gives() -> None:
    records = [_record(i) for i in range(23)]
    frame = records_frame(records)
    pd.testing.assert_frame_equal(frame, _reference(records))


def test_an_empty_probe_gives_the_same_empty_frame() -> None:
    pd.testing.assert_frame_equal(records_frame([]), _reference([]))
