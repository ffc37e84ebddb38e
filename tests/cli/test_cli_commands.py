"""The command line as a user runs it: a real `slobench` process, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

SLOBENCH = [sys.executable, "-m", "slobench.cli"]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SLOBENCH, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, check=False)


def test_version_prints_the_package_version() -> None:
    from slobench import __version__

    out = run_cli("--version")
    assert out.returncode == 0
    assert __version__ in out.stdout


def test_help_lists_every_command() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ("run", "scenarios", "compare", "gate", "tiny-model"):
        assert command in out.stdout


def test_scenarios_json_lists_exactly_the_six_with_their_stages() -> None:
    out = run_cli("scenarios", "--json")
    assert out.returncode == 0
    data = json.loads(out.stdout)
    assert [d["name"] for d in data] == ["chatbot", "coding", "summarization", "tool_calling",
                                         "reasoning", "mixed"]
    for d in data:
        assert d["arrival"] and d["source"]
        for stage in d["stages"]:
            assert {"name", "ttft_slowdown", "tpot_ms"} <= set(stage)


@pytest.mark.parametrize(("body", "field"), [
    # missing TPOT SLO
    ('[[classes.stages]]\nname = "s"\nttft_slowdown = 5.0\n'
     'output = { dist = "fixed", value = 10 }\n', "tpot_ms"),
    # a string where a number goes
    ('[[classes.stages]]\nname = "s"\nttft_slowdown = 5.0\ntpot_ms = "fast"\n'
     'output = { dist = "fixed", value = 10 }\n', "tpot_ms"),
])
def test_malformed_workload_exits_2_naming_file_and_field(tmp_path: Path, body: str,
                                                          field: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "broken"\ndescription = "d"\nsource = "s"\n'
                    '[arrival]\nkind = "poisson"\n'
                    '[[classes]]\nname = "c"\nkind = "single"\n'
                    'prompt = { dist = "fixed", value = 100 }\n' + body)
    out = run_cli("run", "--scenario", str(path), "--rates", "1", "--requests", "5",
                  "--out", str(tmp_path / "out"))
    assert out.returncode == 2
    assert "broken.toml" in out.stderr and field in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_arrival_kind_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "odd.toml"
    path.write_text('name = "odd"\ndescription = "d"\nsource = "s"\n[arrival]\nkind = "weird"\n')
    out = run_cli("run", "--scenario", str(path), "--rates", "1")
    assert out.returncode == 2
    assert "odd.toml" in out.stderr and "Traceback" not in out.stderr


def test_fixed_rates_write_one_row_per_call_and_rate(tmp_path: Path) -> None:
    out_dir = tmp_path / "D"
    out = run_cli("run", "--scenario", "coding", "--backends", "vllm", "--rates", "2,8",
                  "--requests", "300", "--out", str(out_dir), "--no-report")
    assert out.returncode == 0, out.stderr
    requests = pd.read_parquet(out_dir / "requests.parquet")
    summary = pd.read_parquet(out_dir / "summary.parquet")
    calls = requests.groupby("rate").size()
    assert list(calls.index) == [2.0, 8.0]
    assert calls.nunique() == 1  # the same workload at both rates
    assert requests["status"].notna().all() and requests["ttft_s"].notna().all()
    assert len(summary) == 2 and set(summary["kind"]) == {"point"}


def test_capacity_run_then_gate_against_itself_and_a_better_baseline(tmp_path: Path) -> None:
    run_dir = tmp_path / "D"
    out = run_cli("run", "--scenario", "coding", "--backends", "vllm,sarathi", "--requests",
                  "150", "--tolerance", "0.2", "--out", str(run_dir))
    assert out.returncode == 0, out.stderr
    for name in ("requests.parquet", "summary.parquet", "run.json", "report.html"):
        assert (run_dir / name).is_file()
    summary = pd.read_parquet(run_dir / "summary.parquet")
    capacity = summary[summary["kind"] == "capacity"]
    assert set(capacity["backend"]) == {"vllm", "sarathi"}

    assert run_cli("gate", str(run_dir), "--baseline", str(run_dir)).returncode == 0

    better = tmp_path / "BASE"
    better.mkdir()
    boosted = summary.copy()
    cap = boosted["kind"] == "capacity"
    boosted.loc[cap, "capacity_rps_per_gpu"] = boosted.loc[cap, "capacity_rps_per_gpu"] * 2 + 1
    boosted.loc[cap, "capacity_rps"] = boosted.loc[cap, "capacity_rps"] * 2 + 4
    boosted.to_parquet(better / "summary.parquet")
    (better / "run.json").write_text((run_dir / "run.json").read_text())
    gated = run_cli("gate", str(run_dir), "--baseline", str(better))
    assert gated.returncode == 1
    assert "regressed" in gated.stdout

    assert run_cli("gate", str(run_dir), "--baseline", str(tmp_path / "missing")).returncode == 2
