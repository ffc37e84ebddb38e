"""`step_files.longest_host_stall`: a step the host held far past what steps of its shape
cost is found, by how much; a long prompt's slow later chunks (attention) are not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slobench.engines.vllm.plugin.steplog import STEP_COLUMNS
from slobench.engines.vllm.step_files import longest_host_stall as _longest
from slobench.engines.vllm.step_files import read_steps


def longest_host_stall(folder: Path, start: float, end: float) -> float:
    return _longest(read_steps(folder, start, end))


def _cost(prefill: int, decode: int, pairs: int) -> float:
    return 0.005 + 2e-4 * prefill + 1e-3 * decode + 5e-8 * pairs


def _write(folder: Path, stall_at: int | None, stall_s: float = 1.0) -> list[float]:
    """Write the steps; their start times."""
    rows, t, times = [], 100.0, []
    rng = np.random.default_rng(0)
    for i in range(400):
        # Decodes, short prompts, and a long prompt's 2,048-token chunks with a growing
        # context (their attention pairs make them 3-4x a fresh chunk's cost).
        prefill, decode = [(0, 4), (120, 3), (2048, 1)][i % 3]
        context = 8000 if prefill == 2048 else prefill
        pairs = prefill * context
        step = _cost(prefill, decode, pairs) * rng.uniform(0.95, 1.05)
        if i == stall_at:
            step += stall_s
        row = {c: 0 for c in STEP_COLUMNS}
        row.update(t=t, step_s=step, prefill_tokens=prefill, decode_tokens=decode,
                   context_tokens=context + decode, prefill_pairs=pairs, num_reqs=decode + 1)
        rows.append(",".join(str(row[c]) for c in STEP_COLUMNS))
        times.append(t)
        t += step
    (folder / "replica-0.steps.csv").write_text(",".join(STEP_COLUMNS) + "\n"
                                                + "\n".join(rows) + "\n")
    return times


def test_a_stalled_step_is_found_by_how_far_it_ran_past_its_cost(tmp_path: Path) -> None:
    _write(tmp_path, stall_at=31)                       # a short prompt's step, held 1 s
    assert longest_host_stall(tmp_path, 0.0, 1e9) == pytest.approx(1.0, abs=0.05)


def test_slow_chunks_of_a_long_prompt_are_no_stall(tmp_path: Path) -> None:
    _write(tmp_path, stall_at=None)
    assert longest_host_stall(tmp_path, 0.0, 1e9) == 0.0


def test_a_stall_outside_the_window_is_not_counted(tmp_path: Path) -> None:
    times = _write(tmp_path, stall_at=310)
    assert longest_host_stall(tmp_path, 0.0, times[300]) == 0.0       # 300 steps before it
    assert longest_host_stall(tmp_path, times[300], 1e9) > 0.9


def test_a_folder_without_steps_has_no_stall(tmp_path: Path) -> None:
    (tmp_path / "replica-0.steps.csv").write_text(",".join(STEP_COLUMNS) + "\n")
    assert longest_host_stall(tmp_path, 0.0, 1e9) == 0.0
    assert longest_host_stall(tmp_path / "none", 0.0, 1e9) == 0.0
