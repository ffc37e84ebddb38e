"""A step-time model scaled by a constant: what a planner that covers an upper quantile
of measured steps sees (the vLLM plugin's online model inflates its fit the same way)."""

from __future__ import annotations

from typing import Any

from slobench.perf.model import PerfModel


class ScaledModel(PerfModel):
    def __init__(self, base: PerfModel, factor: float) -> None:
        if not factor > 0:
            raise ValueError(f"factor must be > 0, got {factor}")
        self.base, self.factor = base, factor
        self.name = f"{base.name}x{factor:.3g}"

    def step_time(self, prefill_tokens: int, decode_tokens: int, context_tokens: int,
                  draft_steps: int = 0) -> float:
        return self.factor * self.base.step_time(prefill_tokens, decode_tokens,
                                                 context_tokens, draft_steps)

    def describe(self) -> dict[str, Any]:
        return {"kind": "scaled", "factor": self.factor, "base": self.base.describe()}
