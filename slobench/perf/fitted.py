"""Fitted step-time profiles T(N, S) = max_i(k1_i*N + k2_i*S + b_i).

N = batch tokens (prefill + decode), S = speculative draft steps; context is ignored.
This is the form SLOs-Serve's public code fits from engine measurements, and the
paper's five profiles ship here as reference profiles (SPEC §6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from slobench.perf.model import PerfModel

Term = tuple[float, float, float]   # (k1 s/token, k2 s/draft step, b s)


@dataclass(frozen=True)
class FittedProfile(PerfModel):
    """A max-of-affine step-time profile; the inverse is closed form."""

    name: str
    terms: tuple[Term, ...]
    source: str = ""                # where the numbers come from, for run metadata
    context_free: ClassVar[bool] = True      # T(N, S): no context term

    def __post_init__(self) -> None:
        if not self.terms:
            raise ValueError(f"profile {self.name}: needs at least one (k1, k2, b) term")
        clean: list[Term] = []
        for i, term in enumerate(self.terms):
            if len(term) != 3:
                raise ValueError(f"profile {self.name}: term {i} must be (k1, k2, b), "
                                 f"got {term!r}")
            k1, k2, b = (float(x) for x in term)
            # Non-negative slopes keep T non-decreasing, which the planner relies on.
            if not all(math.isfinite(x) for x in (k1, k2, b)) or k1 < 0 or k2 < 0:
                raise ValueError(f"profile {self.name}: term {i} needs finite k1, k2 >= 0, "
                                 f"got {term!r}")
            clean.append((k1, k2, b))
        object.__setattr__(self, "terms", tuple(clean))
        if max(t[0] for t in clean) <= 0:
            raise ValueError(f"profile {self.name}: some term must grow with N (k1 > 0)")

    def time(self, tokens: int, draft_steps: int = 0) -> float:
        """T(N, S)."""
        best = -math.inf
        for k1, k2, b in self.terms:
            t = k1 * tokens + k2 * draft_steps + b
            if t > best:
                best = t
        return best

    def step_time(self, prefill_tokens: int, decode_tokens: int, context_tokens: int,
                  draft_steps: int = 0) -> float:
        return self.time(prefill_tokens + decode_tokens, draft_steps)

    def max_batch_tokens(self, time_budget_s: float, decode_tokens: int = 0,
                         context_tokens: int = 0, draft_steps: int = 0,
                         prefill_context: int | None = None) -> int:
        # prefill_context: this model has no prefill-attention term to refine.
        if not math.isfinite(time_budget_s):
            raise ValueError(f"time budget {time_budget_s!r} s bounds no batch size")
        # Each term bounds N by floor((budget - k2*S - b) / k1); a flat term either
        # fits or rules out every N.
        limit = math.inf
        for k1, k2, b in self.terms:
            slack = time_budget_s - k2 * draft_steps - b
            if k1 > 0:
                limit = min(limit, math.floor(slack / k1) if slack >= 0 else -1)
            elif slack < 0:
                return 0
        n = int(limit)
        # Float rounding in the division can be one off either way; settle it against
        # time() itself so the result is exactly consistent with step_time.
        while n >= 0 and self.time(n, draft_steps) > time_budget_s:
            n -= 1
        while self.time(n + 1, draft_steps) <= time_budget_s:
            n += 1
        return n if n >= decode_tokens else 0

    def describe(self) -> dict[str, Any]:
        return {"kind": "fitted", "name": self.name,
                "terms": [list(t) for t in self.terms], "source": self.source}


_PAPER = "SLOs-Serve public code (arXiv 2504.08784), SPEC §6"

# (model, hardware, tp) -> the paper's profile, numbers exactly as in SPEC §6.
REFERENCE_PROFILES: dict[tuple[str, str, int], FittedProfile] = {
    ("opt-6.7b", "a100", 1): FittedProfile(
        "paper:opt-6.7b@a100x1", ((6.878e-5, 0.0, 0.0248), (7.523e-5, 0.0, 0.00303)), _PAPER),
    ("opt-13b", "a100", 2): FittedProfile(
        "paper:opt-13b@a100x2", ((7.213e-5, 0.003341, 0.03173), (0.0, 0.003014, 1.2e-5)),
        _PAPER),
    ("opt-30b", "a100", 4): FittedProfile(
        "paper:opt-30b@a100x4", ((9.314e-5, 0.002797, 0.03788), (0.0, 0.003014, 1.2e-5)),
        _PAPER),
    ("toolllama-2-7b", "a100", 1): FittedProfile(
        "paper:toolllama-2-7b@a100x1", ((6.572e-5, 0.0, 0.0275), (0.0, 0.0, 1.2e-5)), _PAPER),
    ("opt-13b", "h100", 1): FittedProfile(
        "paper:opt-13b@h100x1", ((4.177e-5, 0.0, 0.02743), (0.0, 0.0, 1.2e-5)), _PAPER),
}
