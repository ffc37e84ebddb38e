"""A step-time model refitted online from the steps a real engine runs (pure: numpy).

The calibration (SPEC §5) times lone requests on a quiet engine; a loaded engine's
steps look different: every step pays the engine loop's fixed cost (output processing,
the API server streaming beside it), long contexts make chunks slower, and on a shared
host the client and other replicas take CPU. `OnlineStepModel` starts as the calibrated
model and, once it has seen enough steps, predicts

    step time = inflation x (a + b x tokens + d x context)

with (a, b, d) >= 0 least-squares fitted over the recent steps and `inflation` an upper
quantile of measured / fitted, so the planner sizes steps by what they cost now.
Small (decode-only) and large steps are kept in separate windows: a stretch of pure
decoding must not push the prefill-carrying steps out and leave a fit that cannot tell
the per-step cost from the per-token one.
It changes only when its predictions move by more than `min_change`: callers holding
caches keyed on step times (the SLOs-Serve planner's) rebuild them then.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from slobench.perf.model import PerfModel

# Batches (tokens, context) whose predicted times decide whether a refit is a change.
_REFERENCE_BATCHES = ((1, 512), (64, 1024), (256, 4096), (1024, 8192))


class OnlineStepModel(PerfModel):
    name = "online"

    def __init__(self, prior: PerfModel, window: int = 400, min_samples: int = 40,
                 refit_every: int = 25, quantile: float = 0.9, max_inflation: float = 2.0,
                 min_change: float = 0.05, large_step_tokens: int = 32,
                 min_large: int = 10) -> None:
        if not 0 < quantile <= 1:
            raise ValueError(f"quantile must be in (0, 1], got {quantile}")
        if max_inflation < 1:
            raise ValueError(f"max_inflation must be >= 1, got {max_inflation}")
        if min_samples < 3:
            raise ValueError("min_samples must be >= 3 (three coefficients)")
        self.prior = prior
        self.min_samples, self.refit_every = min_samples, refit_every
        self.quantile, self.max_inflation, self.min_change = quantile, max_inflation, min_change
        self.coef: tuple[float, float, float] | None = None      # a, b, d
        self.inflation = 1.0
        self.refits = 0                                            # adopted ones
        self.large_step_tokens, self.min_large = large_step_tokens, min_large
        self._small: deque[tuple[int, int, float]] = deque(maxlen=max(1, window // 2))
        self._large: deque[tuple[int, int, float]] = deque(maxlen=max(1, window // 2))
        self._since_fit = 0

    # -- learning ----------------------------------------------------------------------
    def observe(self, tokens: int, context: int, measured_s: float) -> bool:
        """Record one step the engine ran; True when the model changed."""
        if tokens <= 0 or not measured_s > 0:
            return False
        big = tokens >= self.large_step_tokens
        (self._large if big else self._small).append((tokens, context, measured_s))
        self._since_fit += 1
        if (len(self._small) + len(self._large) < self.min_samples
                or len(self._large) < self.min_large or self._since_fit < self.refit_every):
            return False
        self._since_fit = 0
        return self._refit()

    def _refit(self) -> bool:
        data = np.array([*self._small, *self._large], dtype=float)
        x = np.column_stack([np.ones(len(data)), data[:, 0], data[:, 1]])
        y = data[:, 2]
        coef = _nonnegative_lstsq(x, y)
        fitted = np.maximum(x @ coef, 1e-6)
        inflation = float(np.clip(np.quantile(y / fitted, self.quantile), 1.0,
                                  self.max_inflation))
        new = (float(coef[0]), float(coef[1]), float(coef[2]))
        if self.coef is not None and not self._differs(new, inflation):
            return False
        self.coef, self.inflation = new, inflation
        self.refits += 1
        return True

    def _differs(self, coef: tuple[float, float, float], inflation: float) -> bool:
        for tokens, context in _REFERENCE_BATCHES:
            old = self._predict(self.coef, self.inflation, tokens, context)  # type: ignore[arg-type]
            new = self._predict(coef, inflation, tokens, context)
            if abs(new / old - 1.0) > self.min_change:
                return True
        return False

    @staticmethod
    def _predict(coef: tuple[float, float, float], inflation: float, tokens: int,
                 context: int) -> float:
        a, b, d = coef
        return inflation * max(a + b * tokens + d * context, 1e-6)

    # -- PerfModel ---------------------------------------------------------------------
    def step_time(self, prefill_tokens: int, decode_tokens: int, context_tokens: int,
                  draft_steps: int = 0) -> float:
        if self.coef is None:
            return self.prior.step_time(prefill_tokens, decode_tokens, context_tokens,
                                        draft_steps)
        return self._predict(self.coef, self.inflation, prefill_tokens + decode_tokens,
                             context_tokens)

    def decode_step_time(self, batch: int = 1, context: int = 512) -> float:
        if self.coef is None:
            return self.prior.decode_step_time(batch, context)
        return self.step_time(0, batch, batch * context)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "prior": self.prior.describe(), "coef": self.coef,
                "inflation": self.inflation, "refits": self.refits}


def _nonnegative_lstsq(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares with every coefficient >= 0: drop the most negative column and refit
    until none is negative (three columns: at most three rounds)."""
    active = list(range(x.shape[1]))
    coef = np.zeros(x.shape[1])
    while active:
        sol, *_ = np.linalg.lstsq(x[:, active], y, rcond=None)
        if (sol >= 0).all():
            coef[active] = sol
            return coef
        active.pop(int(np.argmin(sol)))
    return coef
