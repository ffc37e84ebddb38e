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
