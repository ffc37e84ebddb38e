"""Online correction of a step-time model from the steps a real engine ran (pure).

A model calibrated on a quiet engine is off once the engine is loaded: long contexts
make chunks slower than the line fitted at zero load, and on a shared host the client
and the other replicas take CPU. `ScaledPerfModel` multiplies another model's step
times by a factor; `StepTimeCorrector` sets that factor to an upper quantile of
measured/predicted over the recent steps that carried real work, so the planner sizes
steps by what they cost now. Short decode-only steps are left out: their time is
mostly fixed overhead, which would inflate the factor for the prefill-carrying steps
that decide whether a TPOT holds.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from slobench.perf.model import PerfModel


class ScaledPerfModel(PerfModel):
    """`inner`'s step times times `factor` (which the owner may change)."""

    name = "scaled"

    def __init__(self, inner: PerfModel, factor: float = 1.0) -> None:
        self.inner = inner
        self.factor = factor

    def step_time(self, prefill_tokens: int, decode_tokens: int, context_tokens: int,
                  draft_steps: int = 0) -> float:
        return self.factor * self.inner.step_time(prefill_tokens, decode_tokens,
                                                  context_tokens, draft_steps)

    def max_batch_tokens(self, time_budget_s: float, decode_tokens: int = 0,
                         context_tokens: int = 0, draft_steps: int = 0) -> int:
        # Uniform scaling: the inner model's (possibly closed-form) inverse stays exact.
        return self.inner.max_batch_tokens(time_budget_s / self.factor, decode_tokens,
                                           context_tokens, draft_steps)

    def decode_step_time(self, batch: int = 1, context: int = 512) -> float:
        return self.factor * self.inner.decode_step_time(batch, context)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "factor": self.factor, "inner": self.inner.describe()}


class StepTimeCorrector:
    """Factor = the `quantile` of measured/predicted over the last `window` steps with
    at least `min_tokens` tokens, rounded to `granularity` (so a planner's caches keyed
    on it stay useful) and clamped to [lo, hi]; 1.0 until `min_samples` are seen."""

    def __init__(self, window: int = 200, quantile: float = 0.9, min_tokens: int = 32,
                 min_samples: int = 20, granularity: float = 0.05,
                 lo: float = 0.5, hi: float = 4.0) -> None:
        if not 0 < quantile <= 1:
            raise ValueError(f"quantile must be in (0, 1], got {quantile}")
        if not 0 < lo <= 1 <= hi:
            raise ValueError(f"need 0 < lo <= 1 <= hi, got lo={lo}, hi={hi}")
        self.quantile, self.min_tokens, self.min_samples = quantile, min_tokens, min_samples
        self.granularity, self.lo, self.hi = granularity, lo, hi
        self._ratios: deque[float] = deque(maxlen=window)

    def observe(self, tokens: int, predicted_s: float, measured_s: float) -> None:
        if tokens >= self.min_tokens and predicted_s > 0 and measured_s > 0:
            self._ratios.append(measured_s / predicted_s)

    @property
    def samples(self) -> int:
        return len(self._ratios)

    def factor(self) -> float:
        if len(self._ratios) < self.min_samples:
            return 1.0
        q = float(np.quantile(np.fromiter(self._ratios, float), self.quantile))
        q = round(q / self.granularity) * self.granularity
        return min(self.hi, max(self.lo, q))
