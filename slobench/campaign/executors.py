"""Where a simulated campaign's probes run: here (serial), local processes
(`--workers N`), or a Ray cluster (`--ray-address`, imported only then).

A probe is a pure function of its task (the seeded workload at its rate, the backend,
the simulator setup, the SLO scaling), so it gives the same result in any process:
that is what keeps a parallel run's results identical to a serial one's. Workers only
compute; the run's one writer stays in the driver (`prefetch.PairRunner`).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from slobench.campaign.failure_budget import FailureBudgetSpent, check_failures
from slobench.core.errors import input_error
from slobench.engines.requests import LengthPredictor, RequestFactory
from slobench.metrics.build_records import RunLabels, build_records
from slobench.metrics.summary import point_summary
from slobench.perf.model import PerfModel
from slobench.workloads.entities import Workload

if TYPE_CHECKING:
    from slobench.core.outcome import ProbeResult


@dataclass(frozen=True)
class ProbeTask:
    """Everything one probe needs, picklable (the probe function is the simulated
    engine's bound `probe`: a frozen SimEngine pickles with it)."""

    probe_fn: Callable[..., ProbeResult]
    backend: str
    workload: Workload                  # already at the probe's rate
    perf: PerfModel
    tpot_scale: float
    predictor: LengthPredictor | None
    tiers: tuple[float, ...]
    labels: RunLabels
    failure_budget: float


@dataclass
class ProbeDone:
    result: ProbeResult
    attainment: float                   # what the search compares with its threshold
    budget_spent: bool                  # the failure budget would end the search here


def run_probe_task(task: ProbeTask) -> ProbeDone:
    """One probe, as `campaign._Prober` runs it: a fresh request factory (request ids
    from 0), then the attainment the search uses."""
    factory = RequestFactory(task.perf, task.tpot_scale, task.predictor)
    res = task.probe_fn(task.backend, task.workload, factory, task.tiers)
    records = build_records(res.outcomes, task.labels)
    summary = point_summary(records, res.step_overheads_s, res.replan_overheads_s)
    try:
        check_failures("", records, task.failure_budget, lambda _text: None)
        spent = False
    except FailureBudgetSpent:
        spent = True
    return ProbeDone(res, float(summary["attainment"]), spent)


class ProbePool(Protocol):
    kind: str                           # "processes" or "ray"
    slots: int                          # probes in flight at most

    def submit(self, task: ProbeTask) -> cf.Future[ProbeDone]: ...
    def close(self) -> None: ...


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole foreground process group: the driver handles it (writes
    # what it has, stops the pool); a worker must not die mid-task with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ProcessPool:
    """`--workers N` local processes (spawned: no fork of a threaded driver)."""

    kind = "processes"

    def __init__(self, workers: int) -> None:
        self.slots = workers
        self._pool = cf.ProcessPoolExecutor(workers, initializer=_ignore_sigint,
                                            mp_context=multiprocessing.get_context("spawn"))

    def submit(self, task: ProbeTask) -> cf.Future[ProbeDone]:
        return self._pool.submit(run_probe_task, task)

    def close(self) -> None:
        """Stop at once: queued probes are cancelled and running ones killed, so an
        interrupted run does not wait for probes whose results nobody will read."""
        procs = list(getattr(self._pool, "_processes", {}).values())  # 3.11: no public way
        self._pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            with contextlib.suppress(OSError, AttributeError):
                proc.terminate()
        for proc in procs:
            with contextlib.suppress(OSError, AttributeError, ValueError):
                proc.join(timeout=5)


def check_executor_options(engine: str, workers: int, ray_address: str | None) -> None:
    """Bad combinations, named before anything starts (exit 2)."""
    if workers < 1:
        raise input_error("--workers", None, f"must be >= 1, got {workers}")
    if engine != "sim" and workers > 1:
        raise input_error("--workers", None, "runs probes in parallel on --engine sim only "
                          "(a real engine's probes share its servers, one at a time)")
    if engine == "openai" and ray_address:
        raise input_error("--ray-address", None, "--engine openai measures a server you "
                          "run; Ray places probes (--engine sim) or replicas (--engine vllm)")
    if ray_address is not None and not ray_address.strip():
        raise input_error("--ray-address", None, "give auto or HOST:PORT of the cluster")


def make_pool(workers: int, ray_address: str | None) -> ProbePool:
    """The pool for a simulated campaign run in parallel."""
    if ray_address:
        from slobench.campaign.ray_probes import RayPool

        return RayPool(ray_address, workers if workers > 1 else None)
    return ProcessPool(workers)


def describe_pool(pool: ProbePool | None) -> dict[str, Any]:
    return {"kind": "serial", "slots": 1} if pool is None else {"kind": pool.kind,
                                                                 "slots": pool.slots}
