"""The run writer writes each probe's rows once, as a complete Parquet part of its own,
and combines the parts at close: linear in the probes, and every finished probe is on
disk whole the moment it is written (SPEC §11)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from slobench.campaign.writer import RunWriter, prepare_run_folder
from slobench.metrics import run_tables
from slobench.metrics.records import RequestRecord, records_frame
from slobench.metrics.run_tables import part_files, read_requests, read_table
from slobench.metrics.summary_schema import TIMELINE_COLUMNS, SummaryRow
from slobench.report.run_dir import load_run


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


def _summary_row(probe: int) -> SummaryRow:
    return SummaryRow("r", "coding", "vllm", "sim", "point", float(probe), 4,
                      {"attainment": 0.5})


SIZES = [3, 1, 4]


def _expected(sizes: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    requests = pd.concat([records_frame(_records(p, n)) for p, n in enumerate(sizes)],
                         ignore_index=True)
    timeline = pd.DataFrame([t for p, n in enumerate(sizes) for t in _timeline(p, n + 1)],
                            columns=TIMELINE_COLUMNS)
    return requests, timeline


def test_each_probe_is_one_part_on_disk_at_once_and_close_combines_them(
        tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, {"run_id": "r"})
    for probe, n in enumerate(SIZES):
        writer.add_probe(_records(probe, n), _summary_row(probe), _timeline(probe, n + 1))
        assert len(pd.read_parquet(tmp_path / "summary.parquet")) == probe + 1
        parts = part_files(tmp_path, "requests")
        assert len(parts) == probe + 1                  # earlier parts untouched
        pd.testing.assert_frame_equal(pd.read_parquet(parts[-1]),
                                      records_frame(_records(probe, n)))
        so_far, timeline_so_far = _expected(SIZES[:probe + 1])
        pd.testing.assert_frame_equal(read_requests(tmp_path), so_far)
        pd.testing.assert_frame_equal(read_table(tmp_path, "timeline"), timeline_so_far)
        assert not (tmp_path / "requests.parquet").exists()
    writer.close()
    requests, timeline = _expected(SIZES)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "requests.parquet"), requests)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "timeline.parquet"), timeline)
    assert not (tmp_path / "requests.parts").exists()
    assert not (tmp_path / "timeline.parts").exists()
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(RuntimeError):
        writer.add_probe(_records(9, 1), _summary_row(9), [])


def test_the_rows_of_a_run_never_closed_read_as_the_closed_run_would(
        tmp_path: Path) -> None:
    """A killed run (no close) and a closed one load the same requests and timeline;
    a part cut short while written (its temporary file) is not one of them."""
    killed, closed = tmp_path / "killed", tmp_path / "closed"
    for folder in (killed, closed):
        writer = RunWriter(folder, {"run_id": "r"})
        for probe, n in enumerate(SIZES):
            writer.add_probe(_records(probe, n), _summary_row(probe), _timeline(probe, n + 1))
        if folder is closed:
            writer.close()
    (killed / "requests.parts" / "000003.parquet.tmp").write_bytes(b"PAR1 cut short")
    a, b = load_run(killed), load_run(closed)
    pd.testing.assert_frame_equal(a.requests, b.requests)
    pd.testing.assert_frame_equal(a.timeline, b.timeline)
    pd.testing.assert_frame_equal(a.summary, b.summary)


def test_a_close_cut_short_loses_nothing_and_closing_again_finishes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = RunWriter(tmp_path, {"run_id": "r"})
    for probe, n in enumerate(SIZES):
        writer.add_probe(_records(probe, n), _summary_row(probe), _timeline(probe, n + 1))
    requests, _ = _expected(SIZES)

    def killed_mid_rename(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_tables.os, "replace", killed_mid_rename)
    with pytest.raises(OSError):
        writer.close()                      # the combined file never got into place
    monkeypatch.undo()
    assert not (tmp_path / "requests.parquet").exists()
    pd.testing.assert_frame_equal(read_requests(tmp_path), requests)

    real_rmtree = run_tables.shutil.rmtree

    def cut_after_the_first(path: object, ignore_errors: bool = False) -> None:
        first = part_files(tmp_path, "requests")[0]
        os.unlink(first)                    # rmtree killed after one file
        raise KeyboardInterrupt

    monkeypatch.setattr(run_tables.shutil, "rmtree", cut_after_the_first)
    with pytest.raises(KeyboardInterrupt):
        writer.close()
    monkeypatch.setattr(run_tables.shutil, "rmtree", real_rmtree)
    pd.testing.assert_frame_equal(read_requests(tmp_path), requests)    # the combined file
    writer.close()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "requests.parquet"), requests)
    assert not (tmp_path / "requests.parts").exists()


def test_a_run_without_probes_still_leaves_an_empty_timeline(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, {"run_id": "r"})
    writer.add_capacity(SummaryRow("r", "coding", "vllm", "sim", "capacity", 1.0, 4))
    writer.close()
    writer.close()                                   # closing twice is harmless
    assert list(pd.read_parquet(tmp_path / "timeline.parquet").columns) == TIMELINE_COLUMNS
    assert not (tmp_path / "requests.parquet").exists()
    assert read_requests(tmp_path) is None


def test_force_removes_a_killed_runs_parts(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, {"run_id": "r"})
    writer.add_probe(_records(0, 2), _summary_row(0), _timeline(0, 2))
    with pytest.raises(Exception, match="earlier run"):
        prepare_run_folder(tmp_path, force=False)
    prepare_run_folder(tmp_path, force=True)
    assert list(tmp_path.iterdir()) == []
