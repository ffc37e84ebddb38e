"""Serving capacity: the highest rate whose attainment holds the threshold (SPEC §4).

Search rule (robust to a noisy, not quite monotone curve): bracket from the
start rate by doubling (while it passes) or halving (while it fails), then
bisect between the highest passing rate `lo` and the lowest failing rate `hi`
until (hi - lo) <= rel_tol * lo. Probes only ever land strictly between lo
and hi, so the answer is always a rate that *was measured* to pass with
every measured rate above it failing: a lucky pass above a failure cannot
inflate it. Each probe replays the same seeded workload, only time-scaled,
which keeps the curve close to monotone in the first place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


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


@dataclass
class SearchResult:
    capacity: float                       # 0.0 when even min_rate fails
    probes: list[tuple[float, float]] = field(default_factory=list)  # (rate, attainment)
    hit_max_rate: bool = False


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
                result.capacity, result.hit_max_rate = lo, True
                return result
            if passes(lo * 2):
                lo *= 2
            else:
                hi = lo * 2
    else:
        hi = rate
        while lo is None:
            if hi / 2 < cfg.min_rate or len(result.probes) >= cfg.max_probes:
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
