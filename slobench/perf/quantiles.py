"""Quantiles of a few recent step-time ratios (the online model's, `feedback.py`)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def linear_quantile(values: Iterable[float], quantile: float) -> float:
    """numpy's default (`linear`) quantile, bit for bit, in pure Python: on the 64 values
    the online model reads every engine step, numpy's fixed cost is most of the work.
    1.0 (no inflation) when there are none."""
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return 1.0
    index = (n - 1) * quantile
    lo = math.floor(index)
    hi = min(lo + 1, n - 1)
    gamma = index - lo
    a, b = ordered[lo], ordered[hi]
    diff = b - a
    # numpy's `_lerp`: from the nearer end, so that a quantile of 1 is the largest value.
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


def weighted_quantile(values: np.ndarray, weights: np.ndarray, quantile: float) -> float:
    """The smallest value whose weight with all smaller ones' reaches `quantile` of all."""
    order = np.argsort(values)
    covered = np.cumsum(weights[order])
    if not covered[-1] > 0:
        return float(np.quantile(values, quantile))
    return float(values[order][min(int(np.searchsorted(
        covered, quantile * covered[-1] - 1e-12)), len(values) - 1)])


def run_ratios(measured: np.ndarray, profiled: np.ndarray, window: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """(summed measured / summed profiled, summed profiled) over every run of `window`
    (at most all) consecutive steps: a prompt's chunks run in a row and its first token
    waits for their sum, in which a small step's large ratio weighs as little as its time."""
    w = min(window, len(measured))
    runs_measured = np.convolve(measured, np.ones(w), "valid")
    runs_profiled = np.convolve(profiled, np.ones(w), "valid")
    return runs_measured / runs_profiled, runs_profiled
