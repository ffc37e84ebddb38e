"""The paper's SLO attainment rule for one call (SPEC §4).

A call attains when it completed normally with every token it asked for,
TTFT <= TTFT_SLO * tol (TTFT from the *scheduled* send time), and every
output token n arrives by t0 + tol * sum_{i=2..n} tpot(i), where
t0 = max(scheduled + TTFT_SLO, first-token time) and tpot(i) is the TPOT SLO
of the phase token i belongs to. Judging every token, not the mean, is what
catches a request that is on time on average but stalls mid-stream.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# The rule's offsets are the scheduler's own (core.deadlines): one definition, re-exported.
from slobench.core.deadlines import token_deadline_offsets

__all__ = ["TOLERANCE", "call_attains", "token_deadline_offsets", "tpot_of"]

TOLERANCE = 1.05


def call_attains(
    scheduled_s: float,
    ttft_slo_s: float,
    token_times: Sequence[float],
    phase_tpots: Sequence[tuple[int, float]],
    expected_tokens: int,
    tol: float = TOLERANCE,
) -> bool:
    """True when the call met its TTFT and every per-token deadline (status ok assumed)."""
    n = len(token_times)
    if n == 0 or n < expected_tokens:
        return False
    first = token_times[0]
    if first - scheduled_s > ttft_slo_s * tol:
        return False
    if n == 1:
        return True
    t0 = max(scheduled_s + ttft_slo_s, first)
    deadlines = t0 + tol * token_deadline_offsets(n, phase_tpots)
    return bool(np.all(np.asarray(token_times) <= deadlines + 1e-12))


def tpot_of(first_token_s: float, finish_s: float, output_tokens: int) -> float:
    """(finish - first token) / (tokens - 1); NaN below two tokens."""
    if output_tokens < 2 or math.isnan(first_token_s):
        return math.nan
    return (finish_s - first_token_s) / (output_tokens - 1)
