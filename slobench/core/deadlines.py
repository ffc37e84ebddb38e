"""The one per-token deadline rule, used by the scheduler (to aim) and by attainment (to
judge, with its tolerance on top).

Output token n (1-based) is due at t0 + offset(n), where t0 = max(arrival + TTFT SLO,
first-token time) and offset(n) = sum of tpot(i) for i = 2..n, tpot(i) being the TPOT
SLO of the phase token i belongs to (the first token is judged by TTFT alone). The sum
is taken phase by phase, in phase order from 0: (tokens of the phase so far) x its TPOT,
so a scalar `token_deadline_offset` and the vectorised `token_deadline_offsets` give
bit-for-bit the same numbers (both come from `_phase_steps`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from slobench.core.request import SchedRequest

Phases = Sequence[tuple[int, float]]


def _phase_steps(phase_tpots: Phases) -> list[tuple[int, float, float]]:
    """(first token the phase times, its TPOT, offset of the token before it) per phase:
    offset(n) = base + (n - lo + 1) * tpot for n in the phase. The first phase times
    every token before the second (whatever its own start says); a phase that times no
    token (one starting where the next starts) adds nothing to later bases."""
    steps = []
    base = 0.0
    for k, (first, tpot) in enumerate(phase_tpots):
        lo = max(first, 2) if k else 2
        steps.append((lo, tpot, base))
        if k + 1 < len(phase_tpots):
            span = phase_tpots[k + 1][0] - lo
            if span > 0:
                base = base + span * tpot
    return steps


def token_deadline_offset(n: int, phase_tpots: Phases) -> float:
    """Seconds after t0 by which output token n (1-based) is due (0 for n <= 1)."""
    if len(phase_tpots) == 1:                       # the common case, without the lists
        return (n - 1) * phase_tpots[0][1] if n > 1 else 0.0
    offset = 0.0
    for lo, tpot, base in _phase_steps(phase_tpots):
        if n >= lo:
            offset = base + (n - lo + 1) * tpot
    return offset


def token_deadline_offsets(n_tokens: int, phase_tpots: Phases) -> np.ndarray:
    """`token_deadline_offset(k + 1)` at index k, for the first n_tokens tokens."""
    out = np.zeros(n_tokens)
    tokens = np.arange(1, n_tokens + 1)
    for lo, tpot, base in _phase_steps(phase_tpots):
        if lo <= n_tokens:                          # later phases overwrite earlier ones
            out[lo - 1:] = base + (tokens[lo - 1:] - lo + 1) * tpot
    return out


def token_deadline(req: SchedRequest, n: int) -> float:
    """When output token n (1-based) of req is due (the rule above, no tolerance)."""
    ttft_due = req.arrival_s + req.ttft_slo_s
    if n <= 1:
        return ttft_due
    # t0 = max(arrival + TTFT SLO, first token); before the first token, at least the former.
    t0 = ttft_due if math.isnan(req.first_token_s) else max(ttft_due, req.first_token_s)
    return t0 + token_deadline_offset(n, req.phase_tpots)
