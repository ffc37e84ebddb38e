"""A twin's host hops (engines/sim/host.py): calls reach their first scheduler
`first_offer_s` after arrival and the next one `forward_s` after a rejection, and the
client sees each token `delivery_s` after its step; none by default."""

from __future__ import annotations

import math

import pytest

from slobench.engines.offer_order import OfferOrder
from slobench.engines.requests import RequestFactory
from slobench.engines.sim.cluster import SimCluster
from slobench.engines.sim.host import CallHops, HostDelays
from slobench.engines.sim.replica import SimReplica
from slobench.perf.factory import build_perf_model
from slobench.sched.interface import ReplicaScheduler, SchedContext, StepPlan, Verdict
from slobench.sched.kv_blocks import BlockPool
from slobench.workloads.entities import CallSpec, OutputPhase, SessionSpec, Workload

PERF = build_perf_model("opt-13b", "a100", 2)


class _OffersLogged(ReplicaScheduler):
    """Logs when each offer reaches it; replica 0 rejects every call, the others serve."""

    def __init__(self, ctx: SchedContext, index: int, log: list) -> None:
        super().__init__(ctx)
        self.index, self.log, self.queue = index, log, []

    def add_request(self, req, now, last_try):
        self.log.append((self.index, now))
        if self.index == 0:
            return Verdict.REJECTED
        self.queue.append(req)
        return Verdict.ADMITTED

    def schedule(self, now):
        return StepPlan(items=[(r, r.tokens_needed) for r in self.queue])

    def on_finished(self, req):
        self.queue.remove(req)

    def queue_lengths(self):
        return len(self.queue), 0


def _run(replicas: int, host: HostDelays | None):
    log: list[tuple[int, float]] = []
    reps = []
    for i in range(replicas):
        kv = BlockPool(10_000)
        ctx = SchedContext(perf=PERF, kv=kv, tpot_tiers_s=(0.05,))
        reps.append(SimReplica(i, PERF, _OffersLogged(ctx, i, log), kv))
    call = CallSpec("s", 64, (OutputPhase("s", 4, 50),), 5.0)
    workload = Workload("t", (SessionSpec(0, 1.0, "t", (call,)),))
    res = SimCluster(reps, OfferOrder(replicas), host=host).run(
        workload, RequestFactory(PERF, 1.0))
    return res.outcomes[0], log


def test_offers_wait_for_the_hops_and_tokens_reach_the_client_later() -> None:
    host = HostDelays(first_offer_s=0.02, forward_s=0.07, delivery_s=0.005)
    plain, plain_log = _run(2, None)
    hopped, log = _run(2, host)
    assert plain_log == [(0, 1.0), (1, 1.0)]
    assert log == [(0, pytest.approx(1.02)), (1, pytest.approx(1.09))]
    assert hopped.status == plain.status == "ok"
    # The same engine work, started 90 ms later and seen 5 ms after each step.
    assert hopped.token_times[0] == pytest.approx(plain.token_times[0] + 0.095)
    assert hopped.finish_s == pytest.approx(plain.finish_s + 0.095)
    gaps = [b - a for a, b in zip(hopped.token_times, hopped.token_times[1:], strict=False)]
    plain_gaps = [b - a for a, b in zip(plain.token_times, plain.token_times[1:],
                                        strict=False)]
    assert gaps == pytest.approx(plain_gaps)


def test_a_call_every_replica_rejects_is_rejected_after_its_forwards() -> None:
    outcome, log = _run(1, HostDelays(first_offer_s=0.02, forward_s=0.07))
    assert log == [(0, pytest.approx(1.02))] and outcome.status == "rejected"
    assert math.isnan(outcome.finish_s)


def test_negative_hops_are_refused() -> None:
    with pytest.raises(ValueError, match="forward_s"):
        HostDelays(forward_s=-0.1)


def test_a_call_with_hops_of_its_own_takes_them_not_the_medians() -> None:
    own = CallHops(first_offer_s=0.05, forwards_s=(0.2,), delivery_s=0.01)
    medians = HostDelays(first_offer_s=0.02, forward_s=0.07, delivery_s=0.005)
    plain, _ = _run(2, None)
    hopped, log = _run(2, HostDelays(0.02, 0.07, 0.005, {(0, 0): own}))
    assert log == [(0, pytest.approx(1.05)), (1, pytest.approx(1.25))]
    assert hopped.token_times[0] == pytest.approx(plain.token_times[0] + 0.26)
    _, other_log = _run(2, HostDelays(0.02, 0.07, 0.005, {(1, 0): own}))
    assert other_log == [(0, pytest.approx(1.02)), (1, pytest.approx(1.09))]
    assert medians.first_offer((0, 0)) == 0.02


def test_a_forward_the_real_call_never_took_takes_the_median() -> None:
    host = HostDelays(0.02, 0.07, 0.005, {(0, 0): CallHops(0.03, (), None)})
    assert host.forward((0, 0), 0) == 0.07
    assert host.delivery((0, 0)) == 0.005        # it saw no first token: the median
    assert host.first_offer((0, 0)) == 0.03
    with pytest.raises(ValueError, match="forwards_s"):
        CallHops(0.01, (-0.1,))
