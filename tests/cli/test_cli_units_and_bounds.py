"""Units and search-edge bounds as a user sees them: `slobench run` and `gate` (issue 19)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from slobench.workloads.generate import generate
from slobench.workloads.scenario import load_scenario


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """A real `slobench` process (as test_cli_commands runs it), wide enough not to wrap."""
    return subprocess.run([sys.executable, "-m", "slobench.cli", *args], capture_output=True,
                          text=True, timeout=300, check=False,
                          env={**os.environ, "COLUMNS": "200"})


def test_multi_call_capacity_is_in_sessions_per_second_with_calls_per_second_beside_it(
        tmp_path: Path) -> None:
    out = run_cli("run", "--scenario", "tool_calling", "--requests", "60", "--tolerance", "0.3",
                  "--no-report", "--out", str(tmp_path / "T"))
    assert out.returncode == 0, out.stderr
    workload = generate(load_scenario("tool_calling"), 60, 0, 16384)
    calls_per_session = workload.num_calls / len(workload.sessions)
    assert calls_per_session > 1.5
    summary = pd.read_parquet(tmp_path / "T" / "summary.parquet")
    caps = summary[summary["kind"] == "capacity"]
    assert (caps["capacity_bound"] == "measured").all()
    assert caps["capacity_sessions_per_s_per_gpu"].tolist() == caps[
        "capacity_rps_per_gpu"].tolist()
    assert caps["capacity_calls_per_s_per_gpu"].tolist() == pytest.approx(
        (caps["capacity_rps_per_gpu"] * calls_per_session).tolist())
    points = summary[summary["kind"] == "point"]
    assert points["rate_calls_per_s"].tolist() == pytest.approx(
        (points["rate"] * calls_per_session).tolist())
    assert "sessions/s per GPU" in out.stdout and "calls/s per GPU" in out.stdout


def test_a_search_that_never_passes_prints_less_than_its_lowest_rate_and_gate_refuses_it(
        tmp_path: Path) -> None:
    # 1,000 sessions/s on 4 GPUs is far past any capacity, and --min-rate leaves the
    # search no lower rate to try.
    run_dir = tmp_path / "R"
    out = run_cli("run", "--scenario", "summarization", "--requests", "40", "--min-rate", "1000",
                  "--no-report", "--out", str(run_dir))
    assert out.returncode == 0, out.stderr
    caps = pd.read_parquet(run_dir / "summary.parquet").query("kind == 'capacity'")
    assert (caps["capacity_bound"] == "below").all() and (caps["capacity_rps"] == 0).all()
    assert (caps["capacity_bound_sessions_per_s_per_gpu"] == 250.0).all()
    assert "< 250" in out.stdout and "never passed" in out.stdout

    gated = run_cli("gate", str(run_dir), "--baseline", str(run_dir))
    assert gated.returncode == 1
    assert "UNBOUNDED" in gated.stdout and "gate not passed" in gated.stdout
    assert "gate passed" not in gated.stdout
