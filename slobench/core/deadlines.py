"""Per-token deadlines a scheduler aims for (the attainment rule without its tolerance)."""

from __future__ import annotations

import math

from slobench.core.request import SchedRequest


def token_deadline(req: SchedRequest, n: int) -> float:
    """When output token n (1-based) is due: t0 + sum of tpot(i) for i = 2..n."""
    ttft_due = req.arrival_s + req.ttft_slo_s
    if n <= 1:
        return ttft_due
    # t0 = max(arrival + TTFT SLO, first token); before the first token, at least the former.
    t = ttft_due if math.isnan(req.first_token_s) else max(ttft_due, req.first_token_s)
    phases = req.phase_tpots
    if len(phases) == 1:
        return t + (n - 1) * phases[0][1]
    for k, (first, tpot) in enumerate(phases):
        last = phases[k + 1][0] - 1 if k + 1 < len(phases) else n
        lo, hi = max(first, 2), min(last, n)
        if hi >= lo:
            t += (hi - lo + 1) * tpot
    return t
