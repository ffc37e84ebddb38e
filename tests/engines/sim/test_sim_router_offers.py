"""Multi-replica routing (SPEC §7): round-robin first choices, each replica offered once."""

from __future__ import annotations

import pytest

from slobench.engines.offer_order import OfferOrder
from slobench.engines.requests import RequestFactory
from slobench.engines.sim.cluster import SimCluster
from slobench.engines.sim.replica import SimReplica
from slobench.perf.factory import build_perf_model
from slobench.sched.interface import ReplicaScheduler, SchedContext, StepPlan, Verdict
from slobench.sched.kv_blocks import BlockPool
from slobench.workloads.entities import CallSpec, OutputPhase, SessionSpec, Workload


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_router_offer_order_is_a_permutation_with_round_robin_first_choice(n: int) -> None:
    router = OfferOrder(n)
    for k in range(3 * n + 1):
        order = router.offer_order()
        assert sorted(order) == list(range(n))  # every replica, each exactly once
        assert order[0] == k % n
        # after a rejection the request moves on to the next replica, cyclically
        assert order == [(order[0] + j) % n for j in range(n)]


def test_least_loaded_router_offers_the_least_loaded_replica_first() -> None:
    loads = [5, 2, 7, 2]
    router = OfferOrder(4, "least_loaded", load_of=lambda i: loads[i])
    order = router.offer_order()
    assert loads[order[0]] == min(loads)
    assert sorted(order) == [0, 1, 2, 3]


class _Rejecting(ReplicaScheduler):
    """Rejects every request from replicas in `rejecting`; serves nothing itself."""

    def __init__(self, ctx: SchedContext, index: int, rejecting: set[int], log: list) -> None:
        super().__init__(ctx)
        self.index, self.rejecting, self.log = index, rejecting, log
        self.queue: list = []

    def add_request(self, req, now, last_try):
        self.log.append((req.rid, self.index, last_try))
        if self.index in self.rejecting:
            return Verdict.REJECTED
        self.queue.append(req)
        return Verdict.ADMITTED

    def schedule(self, now):
        items = [(r, r.tokens_needed) for r in self.queue]
        return StepPlan(items=items)

    def on_finished(self, req):
        self.queue.remove(req)

    def queue_lengths(self):
        return len(self.queue), 0


def _run(n_replicas: int, rejecting: set[int], n_requests: int):
    perf = build_perf_model("opt-13b", "a100", 2)
    log: list[tuple[int, int, bool]] = []
    reps = []
    for i in range(n_replicas):
        kv = BlockPool(10_000)
        ctx = SchedContext(perf=perf, kv=kv, tpot_tiers_s=(0.05,))
        reps.append(SimReplica(i, perf, _Rejecting(ctx, i, rejecting, log), kv))
    sessions = tuple(SessionSpec(i, 0.5 * i, "t", (CallSpec("s", 64, (OutputPhase("s", 2, 50),),
                                                            5.0),))
                     for i in range(n_requests))
    res = SimCluster(reps, OfferOrder(n_replicas)).run(Workload("t", sessions),
                                                   RequestFactory(perf, 1.0))
    return res, log


def test_every_replica_rejecting_offers_each_replica_once_then_rejects() -> None:
    n = 3
    res, log = _run(n, rejecting={0, 1, 2}, n_requests=6)
    by_rid: dict[int, list[tuple[int, bool]]] = {}
    for rid, rep, last in log:
        by_rid.setdefault(rid, []).append((rep, last))
    assert len(by_rid) == 6
    for k, rid in enumerate(sorted(by_rid)):
        offers = by_rid[rid]
        reps = [r for r, _ in offers]
        assert sorted(reps) == list(range(n)), "each replica offered exactly once"
        assert reps[0] == k % n, "first choices round-robin"
        assert [last for _, last in offers] == [False] * (n - 1) + [True]
    assert all(o.status == "rejected" for o in res.outcomes)
    assert all(o.replica == -1 and not o.token_times for o in res.outcomes)


def test_rejected_request_lands_on_the_next_accepting_replica() -> None:
    res, log = _run(3, rejecting={0}, n_requests=6)
    for o in res.outcomes:
        assert o.status == "ok"
        assert o.replica in (1, 2)
    # No replica sees a request twice.
    assert len(log) == len({(rid, rep) for rid, rep, _ in log})
