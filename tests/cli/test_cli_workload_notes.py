"""What changes a workload is said on the console, not only in run.json: sessions
dropped for the context limit, zero-token trace rows raised to one, a short trace
replayed several times."""

from __future__ import annotations

from pathlib import Path

from cli_inproc import invoke


def test_dropped_raised_and_replayed_trace_rows_are_printed(tmp_path: Path) -> None:
    trace = tmp_path / "short.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                     "0.0,4808,10\n0.5,12,0\n1.5,300,7\n")
    ran = invoke("run", "-s", "coding", "--trace", trace, "--rates", "1", "--requests", "9",
                 "--max-context", "1000", "--backends", "vllm", "--gpus", "1", "--tp", "1",
                 "--no-report", "--out", tmp_path / "run")
    assert ran.code == 0, ran.text
    text = " ".join(ran.out.split())
    assert "coding: 3 of 9 sessions (3 calls) had a call longer than max_context=1000" in text
    assert "coding: 3 of 9 replayed trace rows had 0 prompt or output tokens: raised to 1" \
        in text
    assert "coding: 9 sessions asked, the window holds 3: replayed it 3 times" in text
