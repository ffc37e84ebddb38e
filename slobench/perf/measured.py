"""A step-time model fitted from a real engine's measurements (SPEC §5).

Pure (numpy only): the vLLM plugin rebuilds it inside the engine process from the
calibration the campaign wrote (`to_dict` / `from_dict`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from slobench.perf.model import PerfModel

ONE_STEP_TOKENS = 2048   # vLLM's online-serving chunk on CPU and A100-class GPUs


class MeasuredModel(PerfModel):
    """Step time fitted from a real engine: base + per_token x tokens in the step;
    a single decode step is the measured one.

    The zero-load prefill time (`prefill_time`, which TTFT SLOs scale) follows the
    measured points themselves, piecewise linear: a line through them misses both ends
    (a short prompt's TTFT is mostly fixed cost, a long one's grows faster than linear
    with attention), and an SLO below what a lone request can reach is no SLO at all.
    Below the shortest measured prompt it is that prompt's time; beyond the longest it
    grows with the last segment's slope."""

    name = "measured"

    def __init__(self, base_s: float, per_token_s: float, decode_step_s: float,
                 points: dict[int, float]) -> None:
        self.base_s, self.per_token_s = base_s, per_token_s
        self.decode_s, self.points = decode_step_s, points

    @classmethod
    def fit(cls, prefill_points: dict[int, float], decode_step_s: float) -> MeasuredModel:
        """The step line through the points of one step's size (a longer prompt's time
        is several steps' and its attention's: it would steepen the line); the zero-load
        prefill through them all."""
        one_step = {p: t for p, t in prefill_points.items() if p <= ONE_STEP_TOKENS}
        line_points = one_step if len(one_step) >= 2 else prefill_points
        xs = np.array(sorted(line_points), dtype=float)
        ys = np.array([line_points[int(x)] for x in xs])
        if len(xs) >= 2:
            slope, base = np.polyfit(xs, ys, 1)
        else:
            slope, base = 0.0, float(ys[0])
        slope = max(float(slope), 0.0)
        base = max(float(base), 1e-6)
        return cls(base, slope, decode_step_s, prefill_points)

    def step_time(self, prefill_tokens: int, decode_tokens: int, context_tokens: int,
                  draft_steps: int = 0) -> float:
        return self.base_s + self.per_token_s * (prefill_tokens + decode_tokens)

    def decode_step_time(self, batch: int = 1, context: int = 512) -> float:
        return self.decode_s + self.per_token_s * max(0, batch - 1)

    def prefill_time(self, prompt_tokens: int) -> float:
        if len(self.points) < 2:
            return super().prefill_time(prompt_tokens)
        xs = sorted(self.points)
        ys = [self.points[x] for x in xs]
        if prompt_tokens <= xs[-1]:
            return float(np.interp(prompt_tokens, xs, ys))
        slope = max(0.0, (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]))
        return ys[-1] + slope * (prompt_tokens - xs[-1])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "base_s": self.base_s, "per_token_s": self.per_token_s,
                "decode_step_s": self.decode_s,
                "prefill_points_s": {str(k): v for k, v in self.points.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MeasuredModel:
        points = {int(k): float(v) for k, v in (d.get("prefill_points_s") or {}).items()}
        return cls(float(d["base_s"]), float(d["per_token_s"]), float(d["decode_step_s"]),
                   points)
