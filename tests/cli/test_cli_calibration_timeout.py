"""Calibration on a real server honours --request-timeout and says what it is doing: a
hung server (a stub that never answers) fails within the timeout, not 120 s a call."""

from __future__ import annotations

from pathlib import Path

from cli_inproc import invoke

from slobench.engines.http.calibrate import calibration_lengths
from tests.support.stub_server import running_stub


def test_a_hung_server_fails_calibration_within_the_request_timeout(tmp_path: Path) -> None:
    with running_stub(0.005, 0.001, flags=("--hang",)) as url:
        ran = invoke("run", "--engine", "openai", "--url", url, "-s", "coding", "--backends",
                     "vllm", "--gpus", "1", "--tp", "1", "--request-timeout", "0.5",
                     "--out", tmp_path / "run")
    assert ran.code == 1
    line = ran.one_line_error()
    assert "engine failed: calibration request" in line
    assert "no complete response within 0.5 s" in line
    assert "calibrating" in ran.out and "--request-timeout" in ran.out


def test_calibration_reports_each_step(tmp_path: Path) -> None:
    with running_stub(0.002, 0.0005) as url:
        ran = invoke("run", "--engine", "openai", "--url", url, "-s", "coding", "--backends",
                     "vllm", "--gpus", "1", "--tp", "1", "--rates", "4", "--requests", "2",
                     "--warm-requests", "0", "--no-report", "--out", tmp_path / "run")
    assert ran.code == 0, ran.text
    text = " ".join(ran.out.split())
    n = len(calibration_lengths(8192))                   # the stub's context
    assert f"calibrating: zero-load prefill of 16 tokens (1/{n})" in text
    assert f"calibrating: zero-load prefill of 4096 tokens ({n}/{n})" in text
    assert "calibrating: decode step" in text
