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


def peak_kv_tokens(prompt: np.ndarray, generated: np.ndarray, output: np.ndarray,
                   finish_by: np.ndarray, now: float, fastest_step_s: float) -> float:
    """Upper bound on the admitted requests' total KV tokens at any future time."""
    if prompt.size == 0:
        return 0.0
    times = np.maximum(finish_by, now)                       # candidate peak instants
    grown = generated[:, None] + (times[None, :] - now) / fastest_step_s
    held = prompt[:, None] + np.minimum(output[:, None], grown)
    alive = finish_by[:, None] >= times[None, :]
    return float((held * alive).sum(axis=0).max())


def admitted_peak_kv(reqs: list[SchedRequest], now: float, fastest_step_s: float) -> float:
    """`peak_kv_tokens` of admitted requests, each held to its final (predicted) length."""
    if not reqs:
        return 0.0
    rows = np.array([_kv_row(r) for r in reqs], dtype=float)
    return peak_kv_tokens(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], now, fastest_step_s)


def _kv_row(r: SchedRequest) -> tuple[int, int, int, float]:
    """(prompt, generated, final length, its deadline); the deadline is cached while the
    final length and the first token's time stay what they were (re-plans are frequent)."""
    out = max(r.expected_output, r.generated + 1)
    key = (out, r.first_token_s)
    cached = r.sched_state.get("finish_by")
    if cached is None or cached[0] != key:
        cached = r.sched_state["finish_by"] = (key, token_deadline(r, out))
    return r.prompt_tokens, r.generated, out, cached[1]
