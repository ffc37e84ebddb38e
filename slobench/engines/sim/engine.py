"""The simulated engine (SPEC §2, `--engine sim`): each probe is a fresh simulation of
the replicas on a step-time model; pure, so probes may run in any process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slobench.core.calibration import Calibration, calibrate_model
from slobench.core.outcome import ProbeResult
from slobench.engines.offer_order import OfferOrder
from slobench.engines.requests import RequestFactory
from slobench.engines.sim.cluster import SimCluster
from slobench.engines.sim.host import HostDelays
from slobench.engines.sim.replica import SimReplica
from slobench.perf.model import PerfModel
from slobench.perf.plan_timeline import PlanFollower, PlanTimeline
from slobench.sched.interface import POLICIES, SchedContext
from slobench.sched.kv_blocks import BLOCK_SIZE, BlockPool
from slobench.sched.slos.guards import SloGuard
from slobench.sched.slos.policy import SlosConfig
from slobench.sched.vllm_policy import vllm_default_limits
from slobench.workloads.entities import Workload

# Make sure every built-in policy has registered itself.
import slobench.sched.slos.policy  # noqa: F401  isort: skip


@dataclass(frozen=True)
class SimSetup:
    perf: PerfModel
    replicas: int
    kv_tokens_per_replica: int
    gpu_memory_bytes: float
    gpu_name: str
    routing: str = "round_robin"
    slos: SlosConfig = field(default_factory=SlosConfig)
    spec_acceptance: float = 0.0     # speculative drafts' true acceptance rate
    spec_tokens: int = 0             # vllm_spec's fixed drafts per decode step
    seed: int = 0
    # A real run's twin: vLLM's limits as the engine reported them (max tokens, max
    # seqs), the model SLOs-Serve plans with, and the plugin's SLO guard.
    vllm_limits: tuple[int, int] | None = None
    plan_perf: PerfModel | None = None
    slo_guard: SloGuard | None = None
    fast_forward: bool = True        # pure-decode stretches in one move (same answers)
    # A real run's twin: the router's and HTTP's hops SLOs-Serve's calls took there, and
    # the HTTP hops stock vLLM's took (no router in front).
    host: HostDelays = field(default_factory=HostDelays)
    baseline_host: HostDelays = field(default_factory=HostDelays)
    # A real run's twin, one probe: per replica the models SLOs-Serve planned with there
    # over the probe (None: plan_perf throughout).
    plan_timelines: tuple[PlanTimeline | None, ...] | None = None


def known_backends() -> list[str]:
    return sorted(POLICIES)


def run_sim_probe(setup: SimSetup, backend: str, workload: Workload,
                  factory: RequestFactory, tiers: tuple[float, ...]) -> ProbeResult:
    if backend not in POLICIES:
        raise KeyError(backend)
    max_tokens, max_seqs = setup.vllm_limits or vllm_default_limits(setup.gpu_memory_bytes,
                                                                     setup.gpu_name)
    plans_own = backend == "slos" and setup.plan_perf is not None
    guard = setup.slo_guard if backend == "slos" else None
    if guard is not None:
        tiers = guard.tiers(tiers)
    timelines = setup.plan_timelines if plans_own else None
    replicas = []
    for i in range(setup.replicas):
        kv = BlockPool(max(1, setup.kv_tokens_per_replica // BLOCK_SIZE))
        plan_perf = setup.plan_perf if plans_own and setup.plan_perf else setup.perf
        timeline = timelines[i] if timelines and i < len(timelines) else None
        follower = PlanFollower(timeline, plan_perf) if timeline else None
        if follower is not None:
            follower.advance(0.0)
            plan_perf = follower.model
        ctx = SchedContext(perf=plan_perf, kv=kv, tpot_tiers_s=tiers, options={
            "max_num_batched_tokens": max_tokens, "max_num_seqs": max_seqs,
            "slos": setup.slos, "spec_tokens": setup.spec_tokens,
        })
        replicas.append(SimReplica(i, setup.perf, POLICIES[backend](ctx), kv,
                                   spec_acceptance=setup.spec_acceptance, seed=setup.seed,
                                   plan_follower=follower))
    router = OfferOrder(setup.replicas, setup.routing,
                    load_of=lambda i: sum(replicas[i].scheduler.queue_lengths()))
    return SimCluster(replicas, router, slo_guard=guard, fast_forward=setup.fast_forward,
                      host=setup.host if backend == "slos" else setup.baseline_host
                      ).run(workload, factory)


@dataclass(frozen=True)
class SimEngine:
    """`engines.base.Engine` on the simulator; picklable (probes run in pools as is)."""

    setup: SimSetup
    hardware: dict[str, Any] = field(default_factory=dict)   # run.json's description
    name = "sim"
    backend_major = False
    parallel_probes = True

    @property
    def kv_tokens_per_replica(self) -> int:
        return self.setup.kv_tokens_per_replica

    def calibrate(self, slo_scale: float | None, notes: Callable[[str], None] | None = None,
                  ) -> tuple[PerfModel, Calibration]:
        return self.setup.perf, calibrate_model(self.setup.perf, slo_scale)

    def probe(self, backend: str, workload: Workload, factory: RequestFactory,
              tiers: tuple[float, ...]) -> ProbeResult:
        return run_sim_probe(self.setup, backend, workload, factory, tiers)

    def describe(self) -> dict[str, Any]:
        return dict(self.hardware)

    def close(self) -> None:
        return None
