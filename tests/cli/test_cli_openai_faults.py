"""A misbehaving server behind --engine openai (a local stub whose measured calls fail in
one way each): every call's status and error text are recorded, the run finishes (or
stops by the failure budget) and its results are on disk (SPEC §11)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from cli_inproc import invoke

from tests.support.stub_server import running_stub

RUN = ["run", "--engine", "openai", "-s", "chatbot", "--rates", "2", "--requests", "4",
       "--warm-requests", "0", "--no-report"]


@pytest.mark.parametrize(("fault", "text"), [
    ("http500", "HTTP 500: stub: internal error"),
    ("drop", "stream dropped by the server"),
    ("abort", "stub: aborted"),
    ("badsse", "bad JSON in stream"),
])
def test_each_failed_call_is_recorded_with_the_server_s_text(tmp_path: Path, fault: str,
                                                             text: str) -> None:
    out = tmp_path / "run"
    with running_stub(0.002, 0.001, flags=("--fault", fault)) as url:
        # A budget of 1: no share of failures ends the run, so it finishes (exit 0).
        ran = invoke(*RUN, "--url", url, "--out", str(out), "--failure-budget", "1")
    assert ran.code == 0, ran.text
    calls = pd.read_parquet(out / "requests.parquet")
    assert len(calls) == 4 and (calls["status"] == "error").all()
    assert calls["error"].str.contains(text, regex=False).all(), calls["error"].tolist()
    assert "4 error, 0 timeout of 4 calls" in " ".join(ran.out.split())
    assert (out / "summary.parquet").exists() and (out / "run.json").exists()


def test_a_hung_server_times_out_and_spends_the_failure_budget(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with running_stub(0.002, 0.001, flags=("--fault", "hang")) as url:
        ran = invoke(*RUN, "--url", url, "--out", str(out), "--request-timeout", "1")
    assert ran.code == 1
    assert "failure budget" in ran.one_line_error()
    calls = pd.read_parquet(out / "requests.parquet")
    assert (calls["status"] == "timeout").all()
    assert calls["error"].str.contains("no complete response within 1 s").all()
    assert json.loads((out / "run.json").read_text())["failure_budget_spent"]
