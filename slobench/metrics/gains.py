"""The capacity gain over stock vLLM (SPEC §4): the one rule the campaign, the report
and `compare` use."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

BASELINE = "vllm"


def capacity_gain(mine: Any, base: Any) -> Any:
    """capacity(mine) / capacity(base), per GPU; NaN where the base has no capacity
    (no baseline, no gain). Scalars or pandas Series alike."""
    base = np.where(np.asarray(base, dtype=float) > 0, base, np.nan)
    return mine / (base if base.ndim else float(base))


def geometric_mean(values: Iterable[float]) -> float:
    """Geometric mean; NaN entries are skipped (a scenario without a vLLM baseline).

    A zero gives 0.0 (the limit: a backend with no capacity somewhere has no
    headline gain); negative values raise ValueError since no gain is negative.
    All-NaN or empty gives NaN.
    """
    kept = [float(v) for v in values if not math.isnan(float(v))]
    if any(v < 0 for v in kept):
        raise ValueError(f"geometric mean of negative values is undefined: {kept}")
    if not kept:
        return math.nan
    if any(v == 0 for v in kept):
        return 0.0
    return float(math.exp(sum(math.log(v) for v in kept) / len(kept)))
