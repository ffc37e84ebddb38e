"""Run a campaign's (scenario, backend) searches ahead of it in a probe pool.

The campaign's own loop stays what it is: one (scenario, backend) after another, each
a capacity search, one writer, the console's progress. With a pool, `PairRunner`
computes its probes ahead: a driver thread runs every pair's search on what the pool
has measured so far and keeps the pool full, first with the probes the searches need
next, in the loop's order, then speculatively with the rates the bisection would
probe after each possible outcome of the probes still running (up to MAX_DEPTH
unknown outcomes deep). The loop's probe function then takes the finished result
instead of computing it. Only results of the rates the sequential search asks for are
ever used, so its answer, its rows and their order are exactly the serial run's; a
speculative probe on the path not taken is thrown away.

The search is replayed, not re-implemented: `replay` runs the real `capacity_search`
against known outcomes and stops at the first rate not yet measured.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slobench.campaign.executors import ProbeDone, ProbePool, ProbeTask, describe_pool, make_pool
from slobench.engines.requests import RequestFactory
from slobench.metrics.build_records import RunLabels
from slobench.metrics.capacity import SearchConfig, capacity_search

if TYPE_CHECKING:
    from slobench.campaign.config import RunConfig
    from slobench.core.outcome import ProbeResult
    from slobench.perf.model import PerfModel
    from slobench.workloads.entities import Workload

log = logging.getLogger(__name__)
MAX_DEPTH = 3                 # unknown outcomes a speculative probe may lie beyond
Search = Callable[[Callable[[float], float]], object]
Key = tuple[str, str, float, int]          # scenario, backend, rate, sessions


class _Need(Exception):
    def __init__(self, rate: float) -> None:
        self.rate = rate


class _Ended(Exception):
    pass


def replay(search: Search, known: Mapping[float, float | None]) -> tuple[list[float],
                                                                         float | None]:
    """The rates `search` probes given the `known` outcomes (None: that probe spent the
    failure budget, which ends a search), and the first rate it needs that is not
    known (None: the search is over)."""
    path: list[float] = []

    def probe(rate: float) -> float:
        if rate not in known:
            raise _Need(rate)
        path.append(rate)
        attainment = known[rate]
        if attainment is None:
            raise _Ended
        return attainment

    try:
        search(probe)
    except _Need as need:
        return path, need.rate
    except _Ended:
        pass
    return path, None


def frontier(search: Search, known: Mapping[float, float | None],
             max_depth: int = MAX_DEPTH) -> dict[float, int]:
    """Rates the search may need -> how many unknown outcomes lie before each (0: the
    one it needs now). A pass is assumed as attainment 1, a failure as 0."""
    out: dict[float, int] = {}

    def walk(assumed: dict[float, float | None], depth: int) -> None:
        _, rate = replay(search, {**known, **assumed})
        if rate is None:
            return
        out[rate] = min(depth, out.get(rate, depth))
        if depth < max_depth:
            walk({**assumed, rate: 1.0}, depth + 1)
            walk({**assumed, rate: 0.0}, depth + 1)

    walk({}, 0)
    return out


def search_of(cfg: RunConfig, search: SearchConfig) -> Search:
    """What the campaign loop runs for one pair: the capacity search, or fixed rates."""
    if cfg.search.rates:
        rates = list(cfg.search.rates)
        return lambda probe: [probe(r) for r in rates]
    return lambda probe: capacity_search(probe, search)


def key_of(backend: str, workload: Workload) -> Key:
    return (workload.scenario, backend, workload.rate, len(workload.sessions))


@dataclass
class _Pair:
    backend: str
    name: str
    workload: Workload
    tiers: tuple[float, ...]
    predictor: Any
    known: dict[float, float | None] = field(default_factory=dict)
    keys: dict[float, Key] = field(default_factory=dict)      # rate -> its result's key
    stopped: bool = False


class PairRunner:
    """`for backend, pair in PairRunner(...)`: the campaign's pairs, in order; with a
    pool (a simulated run with --workers or --ray-address) their probes are computed
    ahead, and `probe_fn` hands them out."""

    def __init__(self, cfg: RunConfig, order: list[Any], probe_fn: Callable[..., ProbeResult],
                 perf: PerfModel, tpot_scale: float, search: SearchConfig, run_id: str,
                 meta: dict[str, Any], simulated: bool) -> None:
        self.cfg, self.order, self.local_fn = cfg, order, probe_fn
        self.parallel = simulated and (cfg.sim.workers > 1 or cfg.ray_address is not None)
        self.pool: ProbePool | None = None
        self.perf, self.tpot_scale, self.run_id, self.meta = perf, tpot_scale, run_id, meta
        self.search = search_of(cfg, search)
        self.pairs = [_Pair(b, name, wl, tiers, pred) for b, (name, wl, tiers, pred) in order]
        self.results: dict[Key, ProbeDone | BaseException] = {}
        self.urgent: list[tuple[Key, ProbeTask]] = []
        self.flight: dict[cf.Future[ProbeDone], Key] = {}
        self.wake: cf.Future[None] = cf.Future()     # the loop asked: stop waiting
        self.cond = threading.Condition()
        self.counts = {"computed": 0, "used": 0, "here": 0}
        self.closed = False
        self.thread: threading.Thread | None = None

    def __iter__(self) -> Iterator[Any]:
        if not self.parallel:
            self.meta["executor"] = describe_pool(None)
            yield from self.order
            return
        try:        # the pool is closed however the loop ends (Ctrl-C, an error)
            self.pool = make_pool(self.cfg.sim.workers, self.cfg.ray_address)
            self.thread = threading.Thread(target=self._drive, name="slobench-prefetch",
                                           daemon=True)
            self.thread.start()
            yield from self.order
        finally:
            self.close()

    # -- the campaign loop's side ------------------------------------------------------
    def probe_fn(self, backend: str, workload: Workload, factory: RequestFactory,
                 tiers: tuple[float, ...]) -> ProbeResult:
        if self.pool is None:
            return self.local_fn(backend, workload, factory, tiers)
        key = key_of(backend, workload)
        with self.cond:
            if key not in self.results and not self._in_flight(key) and not self.closed:
                self.urgent.append((key, self._task(backend, workload, tiers,
                                                    factory.predictor)))
                self.cond.notify_all()
                if not self.wake.done():
                    self.wake.set_result(None)
            while key not in self.results and not self.closed and (
                    self._in_flight(key) or any(k == key for k, _ in self.urgent)):
                self.cond.wait(timeout=0.5)
            done = self.results.pop(key, None)
        if done is None:            # the pool is gone: compute it here
            self.counts["here"] += 1
            return self.local_fn(backend, workload, factory, tiers)
        if isinstance(done, BaseException):
            raise done
        self.counts["used"] += 1
        return done.result

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
            if not self.wake.done():
                self.wake.set_result(None)
        if self.thread is not None:
            self.thread.join(timeout=10)
        if self.pool is not None:
            self.pool.close()
        self.meta["executor"] = {**describe_pool(self.pool), "probes": dict(self.counts)}

    # -- the driver thread -------------------------------------------------------------
    def _in_flight(self, key: Key) -> bool:
        return key in self.flight.values()

    def _task(self, backend: str, workload: Workload, tiers: tuple[float, ...],
              predictor: Any) -> ProbeTask:
        labels = RunLabels(self.run_id, workload.scenario, backend, self.cfg.engine,
                           workload.rate)
        return ProbeTask(self.local_fn, backend, workload, self.perf, self.tpot_scale,
                         predictor, tiers, labels, self.cfg.search.failure_budget)

    def _drive(self) -> None:
        try:
            while True:
                with self.cond:
                    if self.closed:
                        return
                    self._fill()
                    if not self.flight:
                        self.cond.wait(timeout=0.5)
                        continue
                done, _ = cf.wait([*self.flight, self.wake], timeout=0.5,
                                  return_when=cf.FIRST_COMPLETED)
                with self.cond:
                    if self.wake.done():
                        self.wake = cf.Future()
                    for fut in done:
                        if fut in self.flight:
                            self._harvest(fut)
                    self.cond.notify_all()
        except Exception:          # a bug here must not hang the run: compute here
            log.exception("probe prefetch stopped; the remaining probes run serially")
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    def _fill(self) -> None:
        """Top the pool up: the loop's urgent asks, then every pair's next probe in the
        loop's order, then speculative ones, shallowest first."""
        assert self.pool is not None
        free = self.pool.slots - len(self.flight)
        while free > 0 and self.urgent:
            key, task = self.urgent.pop(0)
            if key not in self.results and not self._in_flight(key):
                self._submit(key, task)
                free -= 1
        wanted: list[tuple[int, int, float]] = []
        for i, pair in enumerate(self.pairs):
            if pair.stopped:
                continue
            rates = frontier(self.search, pair.known)
            if not rates:
                self._finish(pair)
            wanted += [(depth, i, rate) for rate, depth in rates.items()
                       if rate not in pair.known and rate not in pair.keys]
        for _, i, rate in sorted(wanted)[:max(free, 0)]:
            pair = self.pairs[i]
            workload = self._workload(pair, rate)
            key = key_of(pair.backend, workload)
            pair.keys[rate] = key
            if key not in self.results and not self._in_flight(key):
                self._submit(key, self._task(pair.backend, workload, pair.tiers,
                                             pair.predictor))

    def _workload(self, pair: _Pair, rate: float) -> Workload:
        """The probe's workload exactly as `campaign._Prober` makes it."""
        from slobench.campaign.campaign import probe_sessions, sized_workload

        sessions = probe_sessions(self.cfg, rate)
        base = (pair.workload if sessions == self.cfg.requests else
                sized_workload(pair.name, sessions, self.cfg.seed, self.cfg.max_context,
                               self.cfg.trace))
        return base.at_rate(rate)

    def _submit(self, key: Key, task: ProbeTask) -> None:
        assert self.pool is not None
        self.flight[self.pool.submit(task)] = key

    def _harvest(self, fut: cf.Future[ProbeDone]) -> None:
        key = self.flight.pop(fut)
        rate = key[2]
        mine = [p for p in self.pairs if (p.workload.scenario, p.backend) == key[:2]]
        try:
            done = fut.result()
        except BaseException as exc:     # the loop raises it if it asks for this probe
            self.results[key] = exc
            for pair in mine:            # its outcome is unknown: no search goes past it
                pair.stopped = True
            return
        self.counts["computed"] += 1
        self.results[key] = done
        for pair in mine:
            pair.known[rate] = None if done.budget_spent else done.attainment
            pair.keys[rate] = key
            if pair.stopped:             # finished while this ran: keep it if on its path
                self._finish(pair)

    def _finish(self, pair: _Pair) -> None:
        """The pair's search is over: drop what it speculated and will never read."""
        path, _ = replay(self.search, pair.known)
        for rate, key in pair.keys.items():
            if rate not in path:
                self.results.pop(key, None)
        pair.stopped = True
