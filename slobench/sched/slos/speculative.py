"""Speculative decoding arithmetic (SPEC §7).

With acceptance rate alpha, verifying s tokens per step yields on average
(1 - alpha**s) / (1 - alpha) tokens (s = 1 is plain decoding: one token).
"""

from __future__ import annotations


def expected_tokens(alpha: float, s: int) -> float:
    if s < 1:
        raise ValueError(f"s must be >= 1, got {s}")
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must be in [0, 1), got {alpha}")
    return (1.0 - alpha**s) / (1.0 - alpha)


def shortest_draft(alpha: float, tokens_per_step: float, max_s: int) -> int | None:
    """Smallest s in 1..max_s whose expected tokens per step reach tokens_per_step."""
    for s in range(1, max_s + 1):
        if expected_tokens(alpha, s) >= tokens_per_step - 1e-12:
            return s
    return None
