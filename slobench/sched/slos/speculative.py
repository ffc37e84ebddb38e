"""Speculative decoding arithmetic (SPEC §7).

With acceptance rate alpha, verifying s tokens per step yields on average
(1 - alpha**s) / (1 - alpha) tokens (s = 1 is plain decoding: one token). In the
simulator a decode item of n > 1 tokens is such a step (`sim/replica.py` draws the
acceptances); a policy that drafts sizes its decode items with `verified_tokens`.
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


def verified_tokens(drafts: int, remaining_output: int) -> int:
    """Tokens a decode verifies in one step: `drafts` draft tokens plus the verifier's
    own, no more than the request has left to generate (a draft past the end is waste)."""
    if drafts < 0:
        raise ValueError(f"drafts must be >= 0, got {drafts}")
    return max(1, min(drafts + 1, remaining_output))
