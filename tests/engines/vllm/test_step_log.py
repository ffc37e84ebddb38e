"""The engine step log both real backends write, and reading it back (pure parts)."""

from __future__ import annotations

import json
from pathlib import Path

from slobench.engines.vllm.plugin.steplog import STEP_COLUMNS, StepLog, StepShape, step_shape
from slobench.engines.vllm.step_files import read_overheads, read_steps, read_verdicts


def test_step_shape_tells_decodes_prefill_chunks_and_recomputes_apart() -> None:
    # a: decode (computed was tokens - 1); b: a 64-token chunk of a 300-token prompt after
    # 128; c: a preempted request recomputing 50 of its 80 tokens.
    shape = step_shape({"a": 1, "b": 64, "c": 50}, {"a": 120, "b": 192, "c": 50},
                       {"a": 120, "b": 300, "c": 80}, {})
    assert shape == StepShape(prefill_tokens=114, decode_tokens=1,
                              context_tokens=120 + 192 + 50, num_reqs=3,
                              prefill_pairs=64 * 192 + 50 * 50)


def test_speculative_decode_counts_its_verified_tokens_and_drafts() -> None:
    shape = step_shape({"a": 3}, {"a": 102}, {"a": 100}, {"a": 2})
    assert (shape.decode_tokens, shape.prefill_tokens, shape.draft_steps) == (3, 0, 2)


def test_step_rows_round_trip_through_the_csv(tmp_path: Path) -> None:
    log = StepLog(tmp_path, "1")
    log.step(10.0, 1e-4, False, 2048, 65, 0.01, 0.012, StepShape(64, 1, 500, 2))
    log.step(10.5, 3e-4, True, 512, 8, 0.005, 0.006, StepShape(0, 8, 4000, 8))
    log.step(99.0, 2e-4, False, 512, 8, 0.005, 0.006, StepShape(0, 8, 4000, 8))
    log.flush()
    steps = read_steps(tmp_path, 0.0, 50.0)
    assert len(steps) == 2 and (steps["replica"] == 1).all()
    assert steps["prefill_tokens"].tolist() == [64, 0]
    assert steps["step_s"].tolist() == [0.012, 0.006]
    plain, replans = read_overheads(tmp_path, 0.0, 50.0)
    assert plain == [1e-4] and replans == [3e-4]


def test_a_replica_with_no_steps_leaves_the_others_columns_numeric(tmp_path: Path) -> None:
    log = StepLog(tmp_path, "0")
    log.step(10.0, 1e-4, False, 512, 64, 0.010, 0.012, StepShape(64, 0, 64, 1))
    log.flush()
    (tmp_path / "replica-1.steps.csv").write_text(",".join(STEP_COLUMNS) + "\n")  # never stepped
    steps = read_steps(tmp_path)
    assert len(steps) == 1 and steps["step_s"].dtype.kind == "f"
    assert steps["prefill_tokens"].dtype.kind in "if"


def test_verdicts_keep_the_last_replicas_reason_per_call(tmp_path: Path) -> None:
    rows = [{"event": "rejected", "t": 1.0, "call": "3:0", "why": "busy"},
            {"event": "best_effort", "t": 2.0, "call": "3:0", "why": "ttft"},
            {"event": "rejected", "t": 9.0, "call": "4:1", "why": "kv"},
            {"event": "added", "t": 1.5, "id": "x"}]
    (tmp_path / "replica-0.requests.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows[:1] + rows[2:]))
    (tmp_path / "replica-1.requests.jsonl").write_text(json.dumps(rows[1]) + "\n")
    assert read_verdicts(tmp_path, 0.0, 5.0) == {"3:0": "ttft"}
