"""The engine's own step log (pure: no vLLM import), written inside each vLLM replica.

Every real replica slobench starts, stock vLLM and SLOs-Serve alike, logs each step it
runs to `$SLOBENCH_OVERHEAD_DIR/replica-<i>.steps.csv` (columns `STEP_COLUMNS`, one
header line) and what it was started with (the limits vLLM's scheduler applied, its KV
blocks) to `replica-<i>.engine.json`. From these a profile is fitted (`slobench
profile`, or refitted from any run folder) and the simulator twin replays a run with the
engine's real limits (SPEC §10).

A step's duration is from its `schedule()` call to the next one while the engine is
busy: the model's forward pass plus the engine loop's own cost (output processing, the
API server streaming beside it), which is what paces tokens. An idle wait after a step's
outputs is not counted (at most `IDLE_GAP_S` of it).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_OVERHEAD_DIR = "SLOBENCH_OVERHEAD_DIR"
ENV_REPLICA = "SLOBENCH_REPLICA"
FLUSH_EVERY_S = 0.5
IDLE_GAP_S = 0.005           # longer from outputs to the next schedule(): the engine idled
STEP_COLUMNS = ("t", "sched_wall_s", "replanned", "budget", "scheduled", "predicted_s",
                "step_s", "prefill_tokens", "decode_tokens", "context_tokens", "num_reqs",
                "draft_steps", "prefill_pairs")


@dataclass(frozen=True)
class StepShape:
    """What one step computed: the same three numbers the perf model takes."""

    prefill_tokens: int
    decode_tokens: int
    context_tokens: int
    num_reqs: int
    draft_steps: int = 0
    prefill_pairs: int = 0          # sum over prefill chunks of chunk x (earlier + chunk)

    @property
    def tokens(self) -> int:
        return self.prefill_tokens + self.decode_tokens


def step_shape(scheduled: dict[str, int], computed_after: dict[str, int],
               tokens_before: dict[str, int], drafts: dict[str, int]) -> StepShape:
    """A step's shape from vLLM's view of it: tokens scheduled per request, each
    request's computed tokens after the step is scheduled (vLLM advances them in
    `schedule()`) and its token count (prompt + outputs) before the step. A request whose
    computed tokens were one short of its tokens decodes; any other prefills (a prompt
    chunk, or a preempted request recomputing)."""
    prefill = decode = context = pairs = 0
    longest_draft = 0
    for rid, n in scheduled.items():
        before = computed_after[rid] - n
        if before >= tokens_before[rid] - 1:
            decode += n
        else:
            prefill += n
            pairs += n * (before + n)
        context += before + n
        longest_draft = max(longest_draft, drafts.get(rid, 0))
    return StepShape(prefill, decode, context, len(scheduled), longest_draft, pairs)


class StepLog:
    """Buffered writer of one replica's step rows and request events; a no-op when no
    folder is set (a replica started outside slobench)."""

    def __init__(self, folder: Path | None, replica: str = "0") -> None:
        self.folder = folder
        self.steps_path = self.events_path = None
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            self.steps_path = folder / f"replica-{replica}.steps.csv"
            self.events_path = folder / f"replica-{replica}.requests.jsonl"
            self.info_path = folder / f"replica-{replica}.engine.json"
            if not self.steps_path.exists():
                self.steps_path.write_text(",".join(STEP_COLUMNS) + "\n")
        self._steps: list[str] = []
        self._events: list[str] = []
        self._last_flush = time.monotonic()

    @classmethod
    def from_env(cls) -> StepLog:
        folder = os.environ.get(ENV_OVERHEAD_DIR)
        return cls(Path(folder) if folder else None, os.environ.get(ENV_REPLICA, "0"))

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    def write_info(self, info: dict[str, Any]) -> None:
        if self.folder is not None:
            self.info_path.write_text(json.dumps(info, indent=2, default=str))

    def step(self, t: float, sched_wall_s: float, replanned: bool, budget: int,
             scheduled: int, predicted_s: float, step_s: float, shape: StepShape) -> None:
        self._steps.append(
            f"{t:.6f},{sched_wall_s:.7f},{int(replanned)},{budget},{scheduled},"
            f"{predicted_s:.6f},{step_s:.6f},{shape.prefill_tokens},{shape.decode_tokens},"
            f"{shape.context_tokens},{shape.num_reqs},{shape.draft_steps},"
            f"{shape.prefill_pairs}\n")
        if time.monotonic() - self._last_flush > FLUSH_EVERY_S:
            self.flush()

    def event(self, row: dict[str, Any]) -> None:
        if self.folder is not None:
            self._events.append(json.dumps(row) + "\n")

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if self.steps_path is None or self.events_path is None:
            self._steps.clear()
            self._events.clear()
            return
        for path, buf in ((self.steps_path, self._steps), (self.events_path, self._events)):
            if buf:
                with path.open("a") as fh:
                    fh.writelines(buf)
                buf.clear()
