"""The run writer appends each probe's rows once instead of rewriting its files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from slobench.records.record import RequestRecord, records_frame
from slobench.records.summary_schema import TIMELINE_COLUMNS
from slobench.runner.writer import RunWriter


def _records(probe: int, n: int) -> list[RequestRecord]:
    return [RequestRecord(
        run_id="r", scenario="coding", backend="vllm", engine="sim", rate=float(probe),
        replica=0, session_id=i, call_index=0, stage="s", request_class="c",
        scheduled_send_s=float(i), actual_send_s=float(i), first_token_s=i + 0.5,
        finish_s=i + 1.0, prompt_tokens=10, output_tokens=5, expected_output_tokens=5,
        ttft_s=0.5, tpot_s=0.1, ttft_slo_s=1.0, tpot_slo_s=0.1, attained=bool(i % 2),
        status="ok") for i in range(n)]


def _timeline(probe: int, n: int) -> list[tuple]:
    return [("coding", "vllm", float(probe), 0, 0.25 * k, 1, 2, 30, 0.5) for k in range(n)]


def test_requests_and_timeline_are_the_probes_rows_in_order_one_row_group_each(
        tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, {"run_id": "r"})
    sizes = [3, 1, 4]
    for probe, n in enumerate(sizes):
        writer.add_probe(_records(probe, n), {"kind": "point", "rate": float(probe)},
                         _timeline(probe, n + 1))
        assert len(pd.read_parquet(tmp_path / "summary.parquet")) == probe + 1
    writer.close()
    expected = pd.concat([records_frame(_records(p, n)) for p, n in enumerate(sizes)],
                         ignore_index=True)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "requests.parquet"), expected)
    timeline = pd.DataFrame([t for p, n in enumerate(sizes) for t in _timeline(p, n + 1)],
                            columns=TIMELINE_COLUMNS)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "timeline.parquet"), timeline)
    assert pq.ParquetFile(tmp_path / "requests.parquet").num_row_groups == len(sizes)
    assert not list(tmp_path.glob("*.partial"))


def test_a_run_without_probes_still_leaves_an_empty_timeline(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, {"run_id": "r"})
    writer.add_capacity({"kind": "capacity"})
    writer.close()
    writer.close()                                   # closing twice is harmless
    assert list(pd.read_parquet(tmp_path / "timeline.parquet").columns) == TIMELINE_COLUMNS
    assert not (tmp_path / "requests.parquet").exists()
