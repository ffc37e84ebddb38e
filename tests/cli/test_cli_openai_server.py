"""`slobench run --engine openai` against a local stub server: the default backend, the
served model's name, auth headers that reach the server and never a file, the chat
endpoint, the concurrency cap, and the --json / --quiet outputs."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest
from cli_inproc import Ran, invoke

from tests.support.stub_server import running_stub

KEY = "sk-test-6f1c0a9d2b"
RUN = ["run", "--engine", "openai", "-s", "chatbot", "--requests", "4",
       "--warm-requests", "0", "--no-report"]
AUTH = ("--require-header", f"Authorization: Bearer {KEY}")


def _run(url: str, out: Path, *extra: str, rates: str = "2") -> Ran:
    return invoke(*RUN, "--rates", rates, "--url", url, "--out", str(out), *extra)


def _calls(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "requests.parquet")


def _files_holding(folder: Path, secret: str) -> list[str]:
    return [str(p) for p in folder.rglob("*")
            if p.is_file() and secret.encode() in p.read_bytes()]


def test_the_default_backends_run_on_a_server_slobench_did_not_start(tmp_path: Path) -> None:
    with running_stub(0.002, 0.001) as url:
        ran = _run(url, tmp_path / "run")
    assert ran.code == 0, ran.text
    calls = _calls(tmp_path / "run")
    assert set(calls["backend"]) == {"vllm"} and (calls["status"] == "ok").all()
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["config"]["model"] == "stub"          # the one model the server lists


def test_a_server_with_several_models_needs_the_model_named(tmp_path: Path) -> None:
    with running_stub(0.002, 0.001, flags=("--models", "small,large")) as url:
        none = _run(url, tmp_path / "a")
        wrong = _run(url, tmp_path / "b", "--model", "huge")
        right = _run(url, tmp_path / "c", "--model", "large")
    assert none.code == 2 and "--model:" in none.one_line_error()
    assert "small, large" in none.one_line_error()
    assert wrong.code == 2 and "does not serve 'huge'" in wrong.one_line_error()
    assert right.code == 0, right.text
    meta = json.loads((tmp_path / "c" / "run.json").read_text())
    assert meta["config"]["model"] == "large"


def test_the_api_key_reaches_the_server_and_no_file_of_the_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with running_stub(0.002, 0.001, flags=AUTH) as url:
        ran = _run(url, out, "--api-key", KEY)
    assert ran.code == 0, ran.text
    assert (_calls(out)["status"] == "ok").all()      # the stub answers 401 without it
    assert _files_holding(out, KEY) == []
    assert KEY not in ran.text


def test_the_api_key_comes_from_the_environment(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    out = tmp_path / "run"
    with running_stub(0.002, 0.001, flags=AUTH) as url:
        ran = _run(url, out)
    assert ran.code == 0, ran.text
    assert _files_holding(out, KEY) == []


def test_a_refused_key_fails_the_run_with_the_server_s_answer(tmp_path: Path) -> None:
    with running_stub(0.002, 0.001, flags=AUTH) as url:
        ran = _run(url, tmp_path / "run", "--api-key", "nope")
    assert ran.code == 1
    assert "HTTP Error 401: Unauthorized" in ran.one_line_error()


def test_a_header_is_sent_and_only_its_name_written(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with running_stub(0.002, 0.001, flags=("--require-header", "X-Team: perf-7731")) as url:
        ran = _run(url, out, "--header", "X-Team: perf-7731")
    assert ran.code == 0, ran.text
    meta = json.loads((out / "run.json").read_text())
    assert meta["config"]["http_headers"] == {"X-Team": "***"}
    assert _files_holding(out, "perf-7731") == []


@pytest.mark.parametrize("bad", ["no-colon", ": value", "Two Words: x"])
def test_a_malformed_header_is_refused_before_anything_starts(tmp_path: Path, bad: str) -> None:
    ran = _run("http://127.0.0.1:9", tmp_path / "r", "--header", bad)
    assert ran.code == 2 and ran.one_line_error().startswith("slobench: --header:")


def test_chat_completions_count_tokens_from_usage(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with running_stub(0.002, 0.001) as url:   # its chat chunks hold two tokens each
        ran = _run(url, out, "--endpoint", "chat")
    assert ran.code == 0, ran.text
    calls = _calls(out)
    assert (calls["status"] == "ok").all()
    assert (calls["output_tokens"] == calls["expected_output_tokens"]).all()


def test_max_concurrency_keeps_calls_in_flight_under_the_cap(tmp_path: Path) -> None:
    log = tmp_path / "stub.jsonl"
    with running_stub(0.002, 0.001, log=log) as url:
        ran = invoke("run", "--engine", "openai", "-s", "coding", "--rates", "200",
                     "--requests", "8", "--warm-requests", "0", "--no-report", "--url", url,
                     "--out", str(tmp_path / "run"), "--max-concurrency", "1")
    assert ran.code == 0, ran.text
    served = [json.loads(line) for line in log.read_text().splitlines()]
    spans = sorted((s["recv_s"], s["sent_s"][-1]) for s in served if s["arrival_s"] is not None)
    assert len(spans) == 8
    # One at a time: each call reached the server after the one before had its last token.
    assert all(nxt[0] >= prev[1] for prev, nxt in itertools.pairwise(spans))


def test_json_prints_the_headline_rows_on_stdout(tmp_path: Path) -> None:
    with running_stub(0.002, 0.001) as url:
        ran = _run(url, tmp_path / "run", "--json", rates="1,2")
    assert ran.code == 0, ran.text
    doc = json.loads(ran.out)
    assert [r["rate"] for r in doc["rows"]] == [1.0, 2.0]
    assert all(r["backend"] == "vllm" and r["n_ok"] == r["num_requests"] for r in doc["rows"])


def test_quiet_prints_no_progress_or_tables(tmp_path: Path) -> None:
    with running_stub(0.002, 0.001) as url:
        ran = _run(url, tmp_path / "run", "--quiet")
    assert ran.code == 0, ran.text
    assert [line for line in ran.out.splitlines() if line.strip()] == [
        f"results: {tmp_path / 'run'}"]
