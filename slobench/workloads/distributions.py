"""Length and duration distributions, built from TOML inline tables.

    prompt = { dist = "lognormal", median = 800, sigma = 0.9, min = 4, max = 8000 }

Kinds (`dist = ...`):

- `fixed`: `value`.
- `lognormal`: `median`, `sigma`, optional `min` / `max` clip.
- `quantiles`: empirical quantiles `points = [[0.0, 10], [0.5, 500], [1.0, 8000]]`
  (first q is 0, last is 1, q strictly and values weakly increasing), sampled by
  inverse-CDF linear interpolation between the points.
- `uniform_int`: `low`, `high`, both inclusive integers.
- `uniform`: `low`, `high` floats.

All describe non-negative quantities (token counts, seconds). `sample` gives
floats; `sample_tokens` rounds to integers of at least `minimum` for token
counts. `quantile(q)` lets the scheduler predict an unknown output length by a
percentile of the distribution.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, ClassVar

import numpy as np

from slobench.core.errors import input_error
from slobench.workloads.tomlcheck import as_int, as_number, as_str, as_table, check_keys, describe


class Distribution(ABC):
    """A distribution of a non-negative quantity."""

    kind: ClassVar[str]

    @abstractmethod
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """`n` float draws."""

    @abstractmethod
    def quantile(self, q: float) -> float:
        """The value below which a share `q` (0..1) of draws fall."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The parameters as written in the file (for summaries and notes)."""

    def mean(self) -> float:
        # Midpoint rule over the quantile function: exact enough for summaries and
        # correct for clipped or empirical distributions without special cases.
        qs = (np.arange(2000) + 0.5) / 2000
        return float(np.mean([self.quantile(float(q)) for q in qs]))

    def sample_tokens(self, rng: np.random.Generator, n: int, minimum: int = 1) -> np.ndarray:
        """`n` integer draws, rounded, at least `minimum` (a request has >= 1 token)."""
        return np.maximum(np.rint(self.sample(rng, n)), minimum).astype(np.int64)

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{self.kind}({args})"


@dataclass(frozen=True)
class Fixed(Distribution):
    kind: ClassVar[str] = "fixed"
    value: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, self.value, dtype=float)

    def quantile(self, q: float) -> float:
        return self.value

    def mean(self) -> float:
        return self.value

    def params(self) -> dict[str, Any]:
        return {"value": self.value}


@dataclass(frozen=True)
class LogNormal(Distribution):
    kind: ClassVar[str] = "lognormal"
    median: float
    sigma: float
    low: float | None = None
    high: float | None = None

    def _clip(self, x: np.ndarray | float) -> Any:
        lo = -np.inf if self.low is None else self.low
        hi = np.inf if self.high is None else self.high
        return np.clip(x, lo, hi)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self._clip(self.median * np.exp(self.sigma * rng.standard_normal(n)))

    def quantile(self, q: float) -> float:
        q = min(max(q, 1e-12), 1 - 1e-12)  # inv_cdf is undefined at exactly 0 and 1
        z = NormalDist().inv_cdf(q)
        return float(self._clip(self.median * math.exp(self.sigma * z)))

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"median": self.median, "sigma": self.sigma}
        if self.low is not None:
            out["min"] = self.low
        if self.high is not None:
            out["max"] = self.high
        return out


@dataclass(frozen=True)
class Quantiles(Distribution):
    kind: ClassVar[str] = "quantiles"
    qs: tuple[float, ...]
    values: tuple[float, ...]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.interp(rng.random(n), self.qs, self.values)

    def quantile(self, q: float) -> float:
        return float(np.interp(q, self.qs, self.values))

    def mean(self) -> float:
        # Piecewise-linear inverse CDF: the mean is the trapezoid area under it.
        q, v = np.asarray(self.qs), np.asarray(self.values)
        return float(np.sum(np.diff(q) * (v[1:] + v[:-1]) / 2))

    def params(self) -> dict[str, Any]:
        return {"points": [[q, v] for q, v in zip(self.qs, self.values, strict=True)]}


class _Interval(Distribution):
    """Draws between `low` and `high`, evenly spread: the mean is midway."""

    low: float
    high: float

    def mean(self) -> float:
        return (self.low + self.high) / 2

    def params(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high}


@dataclass(frozen=True)
class UniformInt(_Interval):
    kind: ClassVar[str] = "uniform_int"
    low: int
    high: int

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.integers(self.low, self.high, size=n, endpoint=True).astype(float)

    def quantile(self, q: float) -> float:
        span = self.high - self.low + 1
        return float(min(self.low + math.floor(q * span), self.high))


@dataclass(frozen=True)
class Uniform(_Interval):
    kind: ClassVar[str] = "uniform"
    low: float
    high: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, size=n)

    def quantile(self, q: float) -> float:
        return self.low + q * (self.high - self.low)


# --- building from a TOML table -------------------------------------------------


def _fixed(t: dict[str, Any], src: str, where: str) -> Distribution:
    check_keys(t, src, where, {"dist", "value"}, set())
    return Fixed(as_number(t["value"], src, f"{where}.value", non_negative=True))


def _lognormal(t: dict[str, Any], src: str, where: str) -> Distribution:
    check_keys(t, src, where, {"dist", "median", "sigma"}, {"min", "max"})
    median = as_number(t["median"], src, f"{where}.median", positive=True)
    sigma = as_number(t["sigma"], src, f"{where}.sigma", non_negative=True)
    low = as_number(t["min"], src, f"{where}.min", non_negative=True) if "min" in t else None
    high = as_number(t["max"], src, f"{where}.max", positive=True) if "max" in t else None
    if low is not None and high is not None and low > high:
        raise input_error(src, f"{where}.min", f"min {low:g} is above max {high:g}")
    return LogNormal(median, sigma, low, high)


def _quantiles(t: dict[str, Any], src: str, where: str) -> Distribution:
    check_keys(t, src, where, {"dist", "points"}, set())
    points = t["points"]
    field = f"{where}.points"
    if not isinstance(points, list) or len(points) < 2:
        raise input_error(src, field, f"expected an array of >= 2 [q, value] pairs, got "
                          f"{describe(points)}")
    qs: list[float] = []
    values: list[float] = []
    for i, pair in enumerate(points):
        if not isinstance(pair, list) or len(pair) != 2:
            raise input_error(src, f"{field}[{i}]", f"expected [q, value], got {describe(pair)}")
        qs.append(as_number(pair[0], src, f"{field}[{i}][0]", non_negative=True))
        values.append(as_number(pair[1], src, f"{field}[{i}][1]", non_negative=True))
    if qs[0] != 0.0 or qs[-1] != 1.0:
        raise input_error(src, field, "quantiles must start at q = 0.0 and end at q = 1.0")
    for i in range(1, len(qs)):
        if qs[i] <= qs[i - 1]:
            raise input_error(src, f"{field}[{i}][0]", "q must increase strictly")
        if values[i] < values[i - 1]:
            raise input_error(src, f"{field}[{i}][1]", "values must not decrease")
    return Quantiles(tuple(qs), tuple(values))


def _uniform_int(t: dict[str, Any], src: str, where: str) -> Distribution:
    check_keys(t, src, where, {"dist", "low", "high"}, set())
    low = as_int(t["low"], src, f"{where}.low", minimum=0)
    high = as_int(t["high"], src, f"{where}.high", minimum=0)
    if low > high:
        raise input_error(src, f"{where}.low", f"low {low} is above high {high}")
    return UniformInt(low, high)


def _uniform(t: dict[str, Any], src: str, where: str) -> Distribution:
    check_keys(t, src, where, {"dist", "low", "high"}, set())
    low = as_number(t["low"], src, f"{where}.low", non_negative=True)
    high = as_number(t["high"], src, f"{where}.high", non_negative=True)
    if low > high:
        raise input_error(src, f"{where}.low", f"low {low:g} is above high {high:g}")
    return Uniform(low, high)


DISTRIBUTIONS = {
    "fixed": _fixed,
    "lognormal": _lognormal,
    "quantiles": _quantiles,
    "uniform_int": _uniform_int,
    "uniform": _uniform,
}


def parse_distribution(value: Any, source: str, where: str) -> Distribution:
    """Build a distribution from `{dist = "...", ...}` found at `where` in `source`."""
    table = as_table(value, source, where)
    if "dist" not in table:
        raise input_error(source, f"{where}.dist", "missing required field")
    kind = as_str(table["dist"], source, f"{where}.dist", tuple(DISTRIBUTIONS))
    return DISTRIBUTIONS[kind](table, source, where)
