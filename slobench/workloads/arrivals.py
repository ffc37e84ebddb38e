"""Arrival processes: session start times on a unit-rate timeline.

Every process lays out start times with a mean of 1 session/s, the first at
0 s, deterministic for a given random generator. `Workload.at_rate(r)` then
scales all times by 1/r, which keeps each process's shape (bursts included).

Kinds (`[arrival] kind = ...` in a workload file):

- `poisson`: exponential gaps.
- `gamma`: Gamma-distributed gaps, `burstiness` = the Gamma shape k: 1 is
  Poisson, below 1 burstier (gap CV = 1/sqrt(k)).
- `burst`: the paper's burst generator. Groups arrive by a Poisson process;
  group sizes are geometric with mean `mean_group_size`; a group's sessions
  arrive together, spread uniformly over optional `spread_s` (unit-rate
  seconds, default 0). Groups come at 1/mean_group_size per second, so the
  session rate is 1.
- `trace`: replay a trace's timestamps (`path`, optional `window_start_s`,
  `window_s`), divided by the window's mean gap so the rate is 1.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from slobench.core.errors import input_error
from slobench.workloads.tomlcheck import as_number, as_str, check_keys
from slobench.workloads.trace import TraceWindow, read_trace


class ArrivalProcess(ABC):
    kind: ClassVar[str]

    @abstractmethod
    def times(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """`n` sorted unit-rate start times, the first at 0."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Parameters as written in the file."""

    def notes(self, n: int) -> dict[str, str]:
        """Anything a reader of the workload should know (e.g. a trace wrapped around)."""
        return {}

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{self.kind}({args})" if args else self.kind


def _from_gaps(gaps: np.ndarray) -> np.ndarray:
    # n gaps give n times; drop the wait before the first session so a run starts at once.
    times = np.cumsum(gaps)
    return times - times[0] if len(times) else times


@dataclass(frozen=True)
class Poisson(ArrivalProcess):
    kind: ClassVar[str] = "poisson"

    def times(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return _from_gaps(rng.exponential(1.0, size=n))

    def params(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class GammaArrivals(ArrivalProcess):
    kind: ClassVar[str] = "gamma"
    burstiness: float

    def times(self, rng: np.random.Generator, n: int) -> np.ndarray:
        # shape k, scale 1/k: mean gap 1, CV 1/sqrt(k).
        return _from_gaps(rng.gamma(self.burstiness, 1.0 / self.burstiness, size=n))

    def params(self) -> dict[str, Any]:
        return {"burstiness": self.burstiness}


@dataclass(frozen=True)
class Burst(ArrivalProcess):
    kind: ClassVar[str] = "burst"
    mean_group_size: float
    spread_s: float = 0.0

    def times(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if n == 0:
            return np.zeros(0)
        m = self.mean_group_size
        starts: list[np.ndarray] = []
        sizes: list[np.ndarray] = []
        drawn = 0
        while drawn < n:  # draw groups in batches until they hold n sessions
            batch = max(16, int(np.ceil((n - drawn) / m * 1.2)))
            sizes.append(rng.geometric(1.0 / m, size=batch))
            starts.append(rng.exponential(m, size=batch))
            drawn += int(sizes[-1].sum())
        group_times = _from_gaps(np.concatenate(starts))
        per_session = np.repeat(group_times, np.concatenate(sizes))[:n]
        if self.spread_s > 0:
            per_session = per_session + rng.uniform(0.0, self.spread_s, size=n)
        times = np.sort(per_session)
        return times - times[0]

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mean_group_size": self.mean_group_size}
        if self.spread_s:
            out["spread_s"] = self.spread_s
        return out


@dataclass(frozen=True)
class TraceArrivals(ArrivalProcess):
    kind: ClassVar[str] = "trace"
    window: TraceWindow = field(repr=False)

    @classmethod
    def load(
        cls, path: str | Path, window_start_s: float = 0.0, window_s: float | None = None
    ) -> TraceArrivals:
        window = read_trace(path, window_start_s, window_s)
        # Replay needs a mean gap to normalise by: at least two distinct times.
        if len(window) < 2 or window.span_s <= 0:
            raise input_error(window.path, "window_s",
                              f"window holds {len(window)} request(s) at one instant; "
                              "need at least two distinct timestamps")
        return cls(window)

    @property
    def mean_gap_s(self) -> float:
        return self.window.span_s / (len(self.window) - 1)

    def _wraps(self, n: int) -> int:
        return (n - 1) // len(self.window)

    def times(self, rng: np.random.Generator, n: int) -> np.ndarray:
        base = (self.window.offsets_s - self.window.offsets_s[0]) / self.mean_gap_s
        size = len(base)
        # Each repeat is shifted by the window's span plus one mean gap, which on the
        # unit-rate timeline is exactly `size`: the rate stays 1 across the seam.
        idx = np.arange(n)
        return base[idx % size] + (idx // size) * float(size)

    def lengths(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Prompt and output tokens of the first `n` replayed requests (at least 1 each)."""
        idx = np.arange(n) % len(self.window)
        return (np.maximum(self.window.context_tokens[idx], 1),
                np.maximum(self.window.generated_tokens[idx], 1))

    def zero_token_rows(self, n: int) -> int:
        """How many of the first `n` replayed rows `lengths` raised from 0 tokens to 1."""
        idx = np.arange(n) % len(self.window)
        return int(np.count_nonzero((self.window.context_tokens[idx] == 0)
                                    | (self.window.generated_tokens[idx] == 0)))

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.window.path}
        if self.window.window_start_s:
            out["window_start_s"] = self.window.window_start_s
        if self.window.window_s is not None:
            out["window_s"] = self.window.window_s
        return out

    def notes(self, n: int) -> dict[str, str]:
        size = len(self.window)
        notes = {"trace": f"{self.window.path}: {size} requests over {self.window.span_s:.1f} s, "
                          f"mean gap {self.mean_gap_s:.4f} s, normalised to 1 session/s"}
        if self._wraps(n):
            notes["trace_wrapped"] = (
                f"{n} sessions asked, the window holds {size}: replayed it "
                f"{self._wraps(n) + 1} times, each shifted by its span plus one mean gap")
        return notes


ARRIVAL_KINDS = ("poisson", "gamma", "burst", "trace")


def parse_arrival(table: dict[str, Any], source: str, where: str = "arrival") -> ArrivalProcess:
    """Build an arrival process from the `[arrival]` table of `source`."""
    if "kind" not in table:
        raise input_error(source, f"{where}.kind", "missing required field")
    kind = as_str(table["kind"], source, f"{where}.kind", ARRIVAL_KINDS)
    if kind == "poisson":
        check_keys(table, source, where, {"kind"}, set())
        return Poisson()
    if kind == "gamma":
        check_keys(table, source, where, {"kind", "burstiness"}, set())
        return GammaArrivals(
            as_number(table["burstiness"], source, f"{where}.burstiness", positive=True))
    if kind == "burst":
        check_keys(table, source, where, {"kind", "mean_group_size"}, {"spread_s"})
        m = as_number(table["mean_group_size"], source, f"{where}.mean_group_size", positive=True)
        if m < 1:
            raise input_error(source, f"{where}.mean_group_size", f"must be >= 1, got {m:g}")
        spread = as_number(table.get("spread_s", 0.0), source, f"{where}.spread_s",
                           non_negative=True)
        return Burst(m, spread)
    check_keys(table, source, where, {"kind", "path"}, {"window_start_s", "window_s"})
    path = Path(as_str(table["path"], source, f"{where}.path")).expanduser()
    if not path.is_absolute():
        path = Path(source).parent / path  # relative to the workload file, not the cwd
    start = as_number(table.get("window_start_s", 0.0), source, f"{where}.window_start_s",
                      non_negative=True)
    window = (as_number(table["window_s"], source, f"{where}.window_s", positive=True)
              if "window_s" in table else None)
    return TraceArrivals.load(path, start, window)
