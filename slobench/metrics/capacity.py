"""Serving capacity: the highest rate whose attainment holds the threshold (SPEC §4).

Search rule (robust to a noisy, not quite monotone curve): bracket from the
start rate by doubling (while it passes) or halving (while it fails), then
bisect between the highest passing rate `lo` and the lowest failing rate `hi`
until (hi - lo) <= rel_tol * lo. Probes only ever land strictly between lo
and hi, so the answer is always a rate that *was measured* to pass with
every measured rate above it failing: a lucky pass above a failure cannot
inflate it. Each probe replays the same seeded workload, only time-scaled,
which keeps the curve close to monotone in the first place.

A search can also end at its own edge, and then the answer is a bound, not a
measurement (`CapacityBound`): it passed at the highest rate it may probe
(capacity >= that rate) or failed down to the lowest (capacity < that rate).
Rates are what the workload's arrival process emits: sessions per second.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class SearchConfig:
    threshold: float = 0.90
    rel_tol: float = 0.05
    start_rate: float = 1.0
    min_rate: float = 1e-3
    max_rate: float = 1e5
    max_probes: int = 30

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.rel_tol <= 0:
            raise ValueError(f"rel_tol must be > 0, got {self.rel_tol}")
        if not 0 < self.min_rate <= self.start_rate <= self.max_rate:
            raise ValueError("need 0 < min_rate <= start_rate <= max_rate")


class CapacityBound(StrEnum):
    MEASURED = "measured"      # a passing rate with every probed rate above it failing
    AT_LEAST = "at_least"      # never failed: passed at the highest rate the search may probe
    BELOW = "below"            # never passed: failed at the lowest rate the search may probe


@dataclass
class SearchResult:
    capacity: float                       # 0.0 when even min_rate fails
    probes: list[tuple[float, float]] = field(default_factory=list)  # (rate, attainment)
    bound: CapacityBound = CapacityBound.MEASURED

    @property
    def hit_max_rate(self) -> bool:
        return self.bound is CapacityBound.AT_LEAST

    @property
    def bound_rate(self) -> float:
        """The rate the answer is stated against: the capacity, or for BELOW the lowest
        rate probed (capacity < it)."""
        if self.bound is CapacityBound.BELOW:
            return min((r for r, _ in self.probes), default=math.nan)
        return self.capacity


def bound_text(value: float, bound: str, spec: str = ".3g") -> str:
    """How a capacity (or a rate derived from it) is shown: `≥ X`, `< X` or `X`.

    value: the bound's rate in the unit shown (for BELOW, the lowest rate probed).
    """
    if value is None or not math.isfinite(value):
        return "–"
    sign = "≥ " if bound == CapacityBound.AT_LEAST else "< " if bound == CapacityBound.BELOW else ""
    return f"{sign}{format(value, spec)}"


def capacity_search(probe: Callable[[float], float], cfg: SearchConfig) -> SearchResult:
    """probe(rate) -> attainment in [0, 1]."""
    result = SearchResult(capacity=0.0)

    def passes(rate: float) -> bool:
        att = probe(rate)
        result.probes.append((rate, att))
        return att >= cfg.threshold

    rate = cfg.start_rate
    lo: float | None = None
    hi: float | None = None
    if passes(rate):
        lo = rate
        while hi is None:
            if lo * 2 > cfg.max_rate or len(result.probes) >= cfg.max_probes:
                result.capacity, result.bound = lo, CapacityBound.AT_LEAST
                return result
            if passes(lo * 2):
                lo *= 2
            else:
                hi = lo * 2
    else:
        hi = rate
        while lo is None:
            if hi / 2 < cfg.min_rate or len(result.probes) >= cfg.max_probes:
                result.bound = CapacityBound.BELOW
                return result
            if passes(hi / 2):
                lo = hi / 2
            else:
                hi /= 2
    while hi - lo > cfg.rel_tol * lo and len(result.probes) < cfg.max_probes:
        mid = (lo + hi) / 2
        if passes(mid):
            lo = mid
        else:
            hi = mid
    result.capacity = lo
    return result
