"""One probe on the simulated engine: a workload at one rate through one backend."""

from __future__ import annotations

from dataclasses import dataclass, field

from slobench.perf.model import PerfModel
from slobench.sched.interface import POLICIES, SchedContext
from slobench.sched.kv_blocks import BLOCK_SIZE, BlockPool
from slobench.sched.slos.policy import SlosConfig
from slobench.sched.vllm_policy import vllm_default_limits
from slobench.sim.cluster import SimCluster, SimResult
from slobench.sim.replica import SimReplica
from slobench.sim.router import Router
from slobench.workloads.entities import Workload

from .requests import RequestFactory

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
    seed: int = 0


def known_backends() -> list[str]:
    return sorted(POLICIES)


def run_sim_probe(setup: SimSetup, backend: str, workload: Workload,
                  factory: RequestFactory, tiers: tuple[float, ...]) -> SimResult:
    if backend not in POLICIES:
        raise KeyError(backend)
    max_tokens, max_seqs = vllm_default_limits(setup.gpu_memory_bytes, setup.gpu_name)
    replicas = []
    for i in range(setup.replicas):
        kv = BlockPool(max(1, setup.kv_tokens_per_replica // BLOCK_SIZE))
        ctx = SchedContext(perf=setup.perf, kv=kv, tpot_tiers_s=tiers, options={
            "max_num_batched_tokens": max_tokens, "max_num_seqs": max_seqs,
            "slos": setup.slos,
        })
        replicas.append(SimReplica(i, setup.perf, POLICIES[backend](ctx), kv,
                                   spec_acceptance=setup.spec_acceptance, seed=setup.seed))
    router = Router(setup.replicas, setup.routing,
                    load_of=lambda i: sum(replicas[i].scheduler.queue_lengths()))
    return SimCluster(replicas, router).run(workload, factory)
