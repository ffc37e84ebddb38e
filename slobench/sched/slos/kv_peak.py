"""The most KV the admitted requests can hold at once from now on.

Reserving every admitted request's final size (prompt + output) at once is
safe but wasteful: requests finish at different times, so their final sizes
never all coexist. Each admitted request i holds at most
    prompt_i + min(output_i, generated_i + (t - now) / fastest_step)
until its last token's deadline (on schedule it is done by then), and nothing
after. The sum of these bounds is piecewise increasing between deadlines, so
its maximum is at one of them; admission may use what is left under that peak.
"""

from __future__ import annotations

import numpy as np

from slobench.core.deadlines import token_deadline
from slobench.core.request import SchedRequest

# Candidate instants evaluated together: temporaries of (requests x this) stay in cache.
_BLOCK = 64
_PRUNE_FROM = 32          # fewer requests: every instant, no bound first


def peak_kv_tokens(prompt: np.ndarray, generated: np.ndarray, output: np.ndarray,
                   finish_by: np.ndarray, now: float, fastest_step_s: float) -> float:
    """Upper bound on the admitted requests' total KV tokens at any future time."""
    if prompt.size == 0:
        return 0.0
    times = np.maximum(finish_by, now)                       # candidate peak instants
    steps = (times - now) / fastest_step_s
    if not np.isfinite(steps).all():     # NaN propagates as it always did
        held = prompt[:, None] + np.minimum(output[:, None], generated[:, None] + steps)
        return float((held * (finish_by[:, None] >= times[None, :])).sum(axis=0).max())
    rows = (prompt, generated, output, finish_by)
    if prompt.size < _PRUNE_FROM:
        return _peak_at(rows, times, steps)
    # Only instants whose upper bound reaches a peak already found can hold the peak;
    # those are summed exactly as at every instant (same operations, same order), so
    # the answer is the same number.
    bound = _upper_bounds(rows, times, steps)
    top = np.argpartition(bound, -2)[-2:]
    found = _peak_at(rows, times[top], steps[top])
    keep = np.flatnonzero(bound >= found - 1e-6 * (abs(found) + 1.0))
    return max(found, _peak_at(rows, times[keep], steps[keep])) if keep.size > 1 else found


def _peak_at(rows: tuple[np.ndarray, ...], times: np.ndarray, steps: np.ndarray) -> float:
    """The most KV held at any of `times` (`steps`: fastest steps from now to each):
    each request's bound summed in request order, blocks of instants at a time."""
    prompt, generated, output, finish_by = rows
    m = times.size
    peak = -np.inf
    for lo in range(0, m, _BLOCK):
        hi = m if m - lo < _BLOCK + 2 else lo + _BLOCK   # no block of one instant
        held = np.add.outer(generated, steps[lo:hi])
        np.minimum(output[:, None], held, out=held)
        np.add(prompt[:, None], held, out=held)
        held *= np.greater_equal.outer(finish_by, times[lo:hi])   # alive then
        peak = max(peak, float(held.sum(axis=0).max()))
        if hi == m:
            break
    return peak


def _upper_bounds(rows: tuple[np.ndarray, ...], times: np.ndarray,
                  steps: np.ndarray) -> np.ndarray:
    """Per instant, a bound no lower than the KV held then: the requests alive (finish
    by it or later) at their final size, or at their size now plus one token per
    fastest step, whichever sum is smaller."""
    prompt, generated, output, finish_by = rows
    order = np.argsort(finish_by, kind="stable")
    final = np.cumsum((prompt + output)[order][::-1])[::-1]
    current = np.cumsum((prompt + generated)[order][::-1])[::-1]
    first = np.searchsorted(finish_by[order], times, "left")   # alive: order[first:]
    return np.minimum(final[first], current[first] + (prompt.size - first) * steps)


def admitted_peak_kv(reqs: list[SchedRequest], now: float, fastest_step_s: float) -> float:
    """`peak_kv_tokens` of admitted requests, each held to its final (predicted) length:
    prompt, generated tokens, final length and that token's deadline, as four flat
    columns (one pass, no per-request tuples: re-plans are frequent and sets large)."""
    if not reqs:
        return 0.0
    prompts, generated, finals, finish_by = [], [], [], []
    for r in reqs:
        g = r.generated
        expected = r.expected_output
        out = expected if expected > g else g + 1          # max(expected, g + 1)
        prompts.append(r.prompt_tokens)
        generated.append(g)
        finals.append(out)
        # The deadline of token `out`, cached while the final length and the first
        # token's time stay what they were.
        key = (out, r.first_token_s)
        cached = r.sched_state.get("finish_by")
        if cached is None or cached[0] != key:
            cached = r.sched_state["finish_by"] = (key, token_deadline(r, out))
        finish_by.append(cached[1])
    return peak_kv_tokens(np.array(prompts, dtype=float), np.array(generated, dtype=float),
                          np.array(finals, dtype=float), np.array(finish_by, dtype=float),
                          now, fastest_step_s)
