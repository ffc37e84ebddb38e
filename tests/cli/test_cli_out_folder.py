"""Results are never overwritten in place (SPEC §11): an earlier run's folder is refused
unless --force, which replaces the whole run; default run ids never collide."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from cli_inproc import invoke

import slobench.campaign.campaign as campaign
from slobench.campaign.writer import RunWriter
from slobench.metrics.summary_schema import SummaryRow

SMALL = ["run", "-s", "coding", "--requests", "20", "--rates", "1", "--backends", "vllm",
         "--gpus", "1", "--tp", "1"]


def test_an_earlier_run_folder_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert invoke(*SMALL, "--out", out).code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    ran = invoke(*SMALL, "--seed", "7", "--out", out)
    assert ran.code == 2
    assert ran.one_line_error().startswith("slobench: --out: ")
    assert "--force" in ran.err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_force_replaces_the_run_and_leaves_no_stale_report(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert invoke(*SMALL, "--out", out).code == 0
    assert (out / "report.html").exists()
    ran = invoke(*SMALL, "--seed", "7", "--out", out, "--force", "--no-report")
    assert ran.code == 0, ran.text
    assert not (out / "report.html").exists()      # the old run's report is gone
    assert '"seed": 7' in (out / "run.json").read_text()


def test_two_runs_with_the_same_default_id_get_two_folders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(campaign, "default_run_id", lambda _names: "same-second")
    assert invoke(*SMALL, "--no-report").code == 0
    assert invoke(*SMALL, "--no-report").code == 0
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == [
        "same-second", "same-second-2"]


def test_a_crash_while_writing_leaves_the_last_good_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = RunWriter(tmp_path, {"run_id": "r", "n": 1})
    writer.add_capacity(SummaryRow("r", "coding", "vllm", "sim", "capacity", 1.0, 4))
    writer.flush()
    good_summary = pd.read_parquet(tmp_path / "summary.parquet")

    def half_written(self: Path, text: str, *args: object, **kwargs: object) -> int:
        with open(self, "w") as f:            # the real write, cut short
            f.write(text[: len(text) // 2])
        raise OSError(28, "No space left on device")

    writer.meta["n"] = 2
    writer.add_capacity(SummaryRow("r", "chatbot", "vllm", "sim", "capacity", 1.0, 4))
    monkeypatch.setattr(Path, "write_text", half_written)
    with pytest.raises(OSError):
        writer.flush()
    monkeypatch.undo()
    assert '"n": 1' in (tmp_path / "run.json").read_text()    # whole, and the old one
    assert len(pd.read_parquet(tmp_path / "summary.parquet")) == len(good_summary) + 1
