"""Trace reading and replay: the Azure 2023 code trace and malformed CSVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slobench.core.errors import UserInputError
from slobench.workloads.arrivals import TraceArrivals
from slobench.workloads.generate import generate
from slobench.workloads.scenario import load_scenario
from slobench.workloads.trace import read_trace

AZURE_CODE = Path(__file__).resolve().parents[2].parent / "shared/traces/azure_llm_2023_code.csv"
needs_trace = pytest.mark.skipif(
    not AZURE_CODE.is_file(),
    reason=f"Azure LLM 2023 code trace not found at {AZURE_CODE} (ships with the dev checkout)",
)

HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


def write_csv(tmp_path: Path, rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text(header + rows)
    return path


@needs_trace
def test_reads_the_whole_azure_code_trace():
    w = read_trace(AZURE_CODE)
    assert len(w) == 8819
    assert w.offsets_s[0] == 0.0 and np.all(np.diff(w.offsets_s) >= 0)
    assert w.span_s == pytest.approx(3435.948, abs=0.01)
    assert (w.context_tokens[0], w.generated_tokens[0]) == (4808, 10)


@needs_trace
def test_replay_at_a_target_rate_has_that_rate_and_keeps_relative_gaps():
    raw = read_trace(AZURE_CODE).offsets_s
    n = len(raw)
    workload = generate(load_scenario("coding"), n, seed=0, trace_path=AZURE_CODE).at_rate(7.5)
    starts = np.array([s.start_s for s in workload.sessions])
    assert (n - 1) / (starts[-1] - starts[0]) == pytest.approx(7.5, rel=1e-9)
    raw_gaps, gaps = np.diff(raw), np.diff(starts)
    ok = (raw_gaps[:-1] > 0) & (raw_gaps[1:] > 0)
    np.testing.assert_allclose(gaps[1:][ok] / gaps[:-1][ok], raw_gaps[1:][ok] / raw_gaps[:-1][ok],
                               rtol=1e-6)


@needs_trace
def test_overriding_a_single_class_scenario_replays_the_trace_lengths():
    w = read_trace(AZURE_CODE)
    workload = generate(load_scenario("coding"), 100, seed=3, trace_path=AZURE_CODE)
    prompts = [s.calls[0].prompt_tokens for s in workload.sessions]
    outputs = [s.calls[0].output_tokens for s in workload.sessions]
    assert prompts == w.context_tokens[:100].tolist()
    assert outputs == w.generated_tokens[:100].tolist()
    assert "trace" in workload.notes


@needs_trace
def test_asking_more_than_the_window_wraps_around_and_says_so():
    process = TraceArrivals.load(AZURE_CODE, window_start_s=600, window_s=60)
    size = len(process.window)
    times = process.times(np.random.default_rng(0), 3 * size)
    assert np.all(np.diff(times) >= 0)
    assert (3 * size - 1) / times[-1] == pytest.approx(1.0, rel=0.02)
    np.testing.assert_allclose(times[size:2 * size] - times[:size], size)
    assert "trace_wrapped" in process.notes(3 * size)
    assert "trace_wrapped" not in process.notes(size)


def test_parses_seven_digit_fractions(tmp_path):
    path = write_csv(tmp_path, "2023-11-16 18:17:03.9799600,10,5\n"
                               "2023-11-16 18:17:04.0319600,20,6\n")
    w = read_trace(path)
    assert w.offsets_s.tolist() == pytest.approx([0.0, 0.052])


@pytest.mark.parametrize(
    ("header", "rows", "field"),
    [
        ("TIMESTAMP,ContextTokens\n", "2023-11-16 18:17:03.1,10\n", "GeneratedTokens"),
        (HEADER, "2023-11-16 18:17:03.1,10,5\nyesterday,10,5\n", "line 3: TIMESTAMP"),
        (HEADER, "2023-11-16 18:17:03.1,ten,5\n", "line 2: ContextTokens"),
        (HEADER, "2023-11-16 18:17:03.1,10,-5\n", "line 2: GeneratedTokens"),
    ],
)
def test_malformed_trace_names_file_and_column(tmp_path, header, rows, field):
    path = write_csv(tmp_path, rows, header)
    with pytest.raises(UserInputError) as err:
        read_trace(path)
    assert str(err.value).startswith(f"{path}: {field}: ")


def test_missing_trace_file_and_empty_window_are_user_errors(tmp_path):
    with pytest.raises(UserInputError, match="trace file not found"):
        read_trace(tmp_path / "nope.csv")
    path = write_csv(tmp_path, "2023-11-16 18:17:03.1,10,5\n2023-11-16 18:17:05.1,10,5\n")
    with pytest.raises(UserInputError) as err:
        read_trace(path, window_start_s=100, window_s=10)
    assert str(err.value).startswith(f"{path}: window_s: no requests")


def test_a_trace_scenario_takes_lengths_from_its_trace_relative_to_the_file(tmp_path):
    write_csv(tmp_path, "".join(f"2023-11-16 18:17:{s:02d}.5,{100 + s},{1 + s}\n"
                                for s in range(10)))
    scenario_file = tmp_path / "replay.toml"
    scenario_file.write_text("""\
name = "replay"
description = "d"
source = "s"
[arrival]
kind = "trace"
path = "trace.csv"
window_start_s = 2
[[classes]]
name = "r"
kind = "single"
lengths = "trace"
  [[classes.stages]]
  name = "r"
  ttft_slowdown = 5.0
  tpot_ms = 50.0
""")
    workload = generate(load_scenario(str(scenario_file)), 12, seed=0)
    prompts = [s.calls[0].prompt_tokens for s in workload.sessions]
    assert prompts == [102, 103, 104, 105, 106, 107, 108, 109, 102, 103, 104, 105]
    assert [s.start_s for s in workload.sessions][:3] == pytest.approx([0.0, 1.0, 2.0])
    assert "trace_wrapped" in workload.notes
