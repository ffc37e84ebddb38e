"""A run killed outright (SIGKILL: no handler, no close) keeps every probe it finished
on disk, whole and readable (SPEC §11), and the report loads the folder as it is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from slobench.metrics.run_tables import part_files, read_requests, read_table
from slobench.report.html import write_report
from slobench.report.run_dir import load_run

RATES = [round(0.5 + 0.25 * k, 2) for k in range(48)]      # far more than it will finish


def test_a_run_killed_mid_campaign_keeps_its_finished_probes(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "slobench.cli", "run", "--engine", "sim", "-s", "coding",
         "--backends", "vllm", "--rates", ",".join(map(str, RATES)), "--requests", "200",
         "--out", str(out), "--no-report"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 240
        while len(part_files(out, "requests")) < 2:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no probe was written in time"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    assert not (out / "requests.parquet").exists()       # it never got to close
    parts = part_files(out, "requests")
    assert 2 <= len(parts) < len(RATES)
    frames = [pd.read_parquet(p) for p in parts]           # each part whole
    assert [f["rate"].unique().tolist() for f in frames] == [[r] for r in RATES[:len(parts)]]
    assert len({len(f) for f in frames}) == 1              # every probe's calls, all of them
    requests = read_requests(out)
    pd.testing.assert_frame_equal(requests, pd.concat(frames, ignore_index=True))

    # summary.parquet is flushed just after each part: it has every probe but the last
    # part's, perhaps (the kill may fall between the two).
    points = pd.read_parquet(out / "summary.parquet").query("kind == 'point'")
    assert len(parts) - 1 <= len(points) <= len(parts)
    assert points["rate"].tolist() == RATES[:len(points)]
    assert read_table(out, "timeline") is not None

    run = load_run(out)
    pd.testing.assert_frame_equal(run.requests, requests)
    assert set(run.timeline["rate"]) <= set(RATES[:len(parts)])
    assert write_report(run, out / "report.html").stat().st_size > 0
