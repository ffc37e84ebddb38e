"""A server that fails every measured call (a local stub answering HTTP 500, through
--engine openai) ends the capacity search after one probe: exit 1, results on disk, the
console showing the probe's error and timeout counts (SPEC §11's failure budget)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from cli_inproc import invoke

from slobench.campaign.failure_budget import FailureBudgetSpent, check_failures
from slobench.metrics.records import RequestRecord
from tests.support.stub_server import running_stub

OPENAI = ["run", "--engine", "openai", "-s", "coding", "--backends", "vllm", "--gpus", "1",
          "--tp", "1", "--warm-requests", "0", "--no-report"]


def test_an_always_failing_server_stops_the_search_after_one_probe(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with running_stub(0.005, 0.001, flags=("--fail-slo-calls",)) as url:
        ran = invoke(*OPENAI, "--url", url, "--requests", "4", "--out", out)
    assert ran.code == 1
    assert "failure budget" in ran.one_line_error()
    assert "4 error, 0 timeout of 4 calls (first: HTTP 500" in " ".join(ran.out.split())
    summary = pd.read_parquet(out / "summary.parquet")
    assert list(summary["kind"]) == ["point"]          # one probe, no capacity claimed
    calls = pd.read_parquet(out / "requests.parquet")
    assert len(calls) == 4 and (calls["status"] == "error").all()
    assert json.loads((out / "run.json").read_text())["failure_budget_spent"]


def _record(status: str) -> RequestRecord:
    nan = float("nan")
    return RequestRecord("r", "coding", "vllm", "openai", 1.0, 0, 0, 0, "s", "c", 0.0, 0.0,
                         nan, nan, 10, 0, 10, nan, nan, 1.0, 0.1, False, status, "boom")


def test_failures_within_the_budget_are_counted_and_the_search_goes_on() -> None:
    said: list[str] = []
    records = [_record("error"), _record("timeout"), _record("ok"), _record("ok")]
    check_failures("coding / vllm at 1/s", records, 0.5, said.append)   # 50%: not over
    assert said == ["coding / vllm at 1/s: 1 error, 1 timeout of 4 calls (first: boom)"]


def test_failures_over_the_budget_end_the_search() -> None:
    records = [_record("timeout"), _record("timeout"), _record("error"), _record("ok")]
    try:
        check_failures("coding / vllm at 1/s", records, 0.5, lambda _text: None)
    except FailureBudgetSpent as exc:
        assert "75% of calls failed" in str(exc)
    else:
        raise AssertionError("three failed calls of four did not spend a 50% budget")
