"""Discrete-event simulation of N replicas behind a router (SPEC §2, engine `sim`).

Events are call arrivals and step completions. A replica runs one batch at a
time; its duration comes from the performance model. Chained calls (tool
calling) are released when the previous call of the session ends, plus the
tool delay, so the simulation is closed-loop within a session exactly as a
real client would be.
"""

from __future__ import annotations

import heapq
import logging
import math
from dataclasses import dataclass, field
from operator import itemgetter

from slobench.core.outcome import ProbeResult, Status
from slobench.core.request import SchedRequest
from slobench.engines.offer_order import OfferOrder
from slobench.engines.requests import RequestFactory
from slobench.engines.sim.host import CallKey, HostDelays
from slobench.engines.sim.outcome import call_outcome
from slobench.engines.sim.replica import SimReplica
from slobench.sched.interface import Verdict
from slobench.sched.slos.guards import SloGuard
from slobench.workloads.entities import SessionSpec, Workload

_ARRIVAL, _STEP_DONE, _WAKE, _OFFER = 0, 1, 2, 3

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class _Call:
    session: SessionSpec
    index: int
    req: SchedRequest
    offers: list[int] = field(default_factory=list)
    tries: int = 0
    status: str = Status.OK
    true_slo: tuple[float, tuple[tuple[int, float], ...]] | None = None   # when guarded

    @property
    def key(self) -> CallKey:
        return (self.session.session_id, self.index)


class SimCluster:
    def __init__(self, replicas: list[SimReplica], router: OfferOrder,
                 timeline_interval_s: float = 0.25, drain_limit_s: float = 600.0,
                 slo_guard: SloGuard | None = None, fast_forward: bool = True,
                 host: HostDelays | None = None) -> None:
        self.replicas = replicas
        self.host = host or HostDelays()      # a real host's hops (a twin's); none here
        self.fast_forward = fast_forward     # pure-decode stretches in one move
        self.slo_guard = slo_guard if slo_guard is not None and slo_guard.active else None
        self.router = router
        self.timeline_interval_s = timeline_interval_s
        self.drain_limit_s = drain_limit_s

    def run(self, workload: Workload, make_request: RequestFactory) -> ProbeResult:
        sim = _EventLoop(self, make_request)
        for session in workload.sessions:
            sim.release(session, 0, session.start_s)
        last_arrival = workload.sessions[-1].start_s if workload.sessions else 0.0
        horizon = last_arrival + self.drain_limit_s
        for rep in self.replicas:
            rep.horizon, rep.fast_forward = horizon, self.fast_forward
        now = sim.loop(horizon)
        if now > horizon:
            log.debug("drain limit of %g s ran out at t=%g s", self.drain_limit_s, now)
        return sim.result(now, last_arrival)


class _EventLoop:
    """One run's state: the event heap, the calls released so far, the timeline."""

    __slots__ = ("by_req", "calls", "heap", "host", "interval", "kicking", "make_request",
                 "next_sample", "replicas", "router", "seq", "slo_guard", "timeline",
                 "to_kick", "tokens")

    def __init__(self, cluster: SimCluster, make_request: RequestFactory) -> None:
        n = len(cluster.replicas)
        self.replicas = cluster.replicas
        self.router = cluster.router
        self.slo_guard = cluster.slo_guard
        self.host = cluster.host
        self.interval = cluster.timeline_interval_s
        self.make_request = make_request
        self.heap: list[tuple[float, int, int, object]] = []
        self.seq = 0
        self.calls: list[_Call] = []
        self.by_req: dict[int, _Call] = {}
        self.timeline: list[tuple] = []
        self.next_sample = [0.0] * n
        self.to_kick: set[int] = set()
        self.tokens = [0] * n              # the live step event's token, per replica
        self.kicking: int | None = None    # the replica whose kick is offering calls now

    def loop(self, horizon: float) -> float:
        """Process events until none is left or one lies past `horizon`; the time reached."""
        heap, to_kick, tokens, replicas = self.heap, self.to_kick, self.tokens, self.replicas
        heappop, offer_order = heapq.heappop, self.router.offer_order
        offer, step_done, kick, host = self.offer, self.step_done, self.kick, self.host
        now = 0.0
        while heap:
            t, _, kind, obj = heappop(heap)
            if kind == _STEP_DONE and obj[1] != tokens[obj[0].index]:  # type: ignore[index]
                pass            # a cut run's old end: only the kicks below may be due
            elif t > horizon:
                now = t
                break
            elif kind == _ARRIVAL:
                now = t
                obj.offers = offer_order()  # type: ignore[attr-defined]
                hop = host.first_offer(obj.key) if host.any else 0.0  # type: ignore[attr-defined]
                if hop:
                    self.push(now + hop, _OFFER, obj)
                else:
                    offer(obj, now)  # type: ignore[arg-type]
            elif kind == _OFFER:
                now = t
                offer(obj, now)  # type: ignore[arg-type]
            elif kind == _STEP_DONE:
                now = t
                step_done(obj[0], now)  # type: ignore[index]
            else:
                now = t
                to_kick.add(obj.index)  # type: ignore[attr-defined]
            # Replicas start their next step only once every event of this instant is
            # in, as an engine loop picks up all requests that arrived before its step.
            while to_kick and (not heap or heap[0][0] > now):
                kick(replicas[min(to_kick)], now)
        return now

    def push(self, t: float, kind: int, obj: object) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, obj))

    def push_step(self, rep: SimReplica, t: float) -> None:
        # A token per push: a fast-forward run cut short leaves a stale event behind.
        tokens = self.tokens
        tokens[rep.index] += 1
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, _STEP_DONE, (rep, tokens[rep.index])))

    def release(self, session: SessionSpec, index: int, t: float) -> None:
        """The session's call `index` arrives at `t`."""
        req = self.make_request(session, index, session.calls[index], t)
        call = _Call(session, index, req)
        if self.slo_guard is not None:
            self._guard(call)
        self.calls.append(call)
        self.by_req[req.rid] = call
        self.push(t, _ARRIVAL, call)

    def _guard(self, call: _Call) -> None:
        """The policy plans on guarded SLOs; the call keeps its true ones to be judged on."""
        req, guard = call.req, self.slo_guard
        assert guard is not None
        call.true_slo = (req.ttft_slo_s, req.phase_tpots)
        guard.mark(req.sched_state, req.arrival_s, req.ttft_slo_s)
        req.ttft_slo_s = guard.ttft_slo(req.ttft_slo_s)
        req.phase_tpots = guard.phase_tpots(req.phase_tpots)

    def step_done(self, rep: SimReplica, now: float) -> None:
        """The replica's step (or fast-forward run) ends at `now`; a run that may look
        further goes on instead."""
        run = rep.run
        if run is not None:
            if run.open and run.extend():
                self.push_step(rep, run.ends[-1])
                return
            self.sample_run(rep)
        for req in rep.finish_step(now):
            self.end_call(self.by_req[req.rid], now)
        self.to_kick.add(rep.index)

    def kick(self, rep: SimReplica, t: float) -> None:
        """Let an idle replica plan its next step; its rejected calls go on elsewhere."""
        self.to_kick.discard(rep.index)
        if rep.busy:
            return
        plan, dt = rep.plan_step(t)
        if plan.rejected:
            self.kicking = rep.index     # its rejected calls go to other replicas only
            for rejected in plan.rejected:
                self.forward(self.by_req[rejected.rid], t)
            self.kicking = None
        if plan.items:
            end = rep.step_end
            self.push_step(rep, t + dt if end is None else end)
        elif rep.scheduler.has_work():
            wake = rep.scheduler.next_wakeup(t)
            if wake is not None and wake > t:
                self.push(wake, _WAKE, rep)
        if t >= self.next_sample[rep.index]:
            self.sample_kick(rep, t, bool(plan.items))

    def sample_kick(self, rep: SimReplica, t: float, stepping: bool) -> None:
        self.next_sample[rep.index] = t + self.interval
        waiting, running = rep.scheduler.queue_lengths()
        tokens = rep.last_batch_tokens if stepping else 0
        self.timeline.append((rep.index, t, waiting, running, tokens, rep.kv.used_fraction))

    def sample_run(self, rep: SimReplica) -> None:
        """The timeline samples the kicks inside a fast-forward run would have taken."""
        run = rep.run
        assert run is not None
        waiting, running = run.queue
        samples = run.samples(rep.kv.total_blocks, self.next_sample[rep.index], self.interval)
        tokens = len(run.reqs)          # each step after the first: a token per request
        for t, kv_used in samples:
            self.timeline.append((rep.index, t, waiting, running, tokens, kv_used))
        if samples:
            self.next_sample[rep.index] = samples[-1][0] + self.interval

    def offer(self, call: _Call, t: float) -> None:
        """Offer the call to its next replica; a call out of replicas is rejected."""
        if call.tries >= len(call.offers):
            self.reject(call, t)
            return
        rep = self.replicas[call.offers[call.tries]]
        call.tries += 1
        if rep.run is not None and rep.run.cut(t, rep.index, self.kicking):
            self.push_step(rep, rep.run.ends[-1])    # the run stops before the new call
        last = call.tries == len(call.offers)
        if rep.plan_follower is not None:
            rep.follow_plan(t)
        verdict = rep.scheduler.add_request(call.req, t, last)
        if verdict is Verdict.REJECTED:
            self.forward(call, t)
            return
        call.req.replica = rep.index
        if verdict is Verdict.BEST_EFFORT:
            call.req.best_effort = True
        self.to_kick.add(rep.index)

    def forward(self, call: _Call, t: float) -> None:
        """A rejected call goes on to its next replica, after the host's forward."""
        hop = self.host.forward(call.key, call.tries - 1) if self.host.any else 0.0
        if hop and call.tries < len(call.offers):
            self.push(t + hop, _OFFER, call)
        else:
            self.offer(call, t)

    def reject(self, call: _Call, t: float) -> None:
        call.status = Status.REJECTED
        call.req.rejected = True
        call.req.replica = -1
        self.end_call(call, t)

    def end_call(self, call: _Call, t: float) -> None:
        nxt = call.index + 1
        if nxt < len(call.session.calls):
            # The chain goes on even after a rejected call, so the offered load
            # stays the workload's; the session cannot attain anyway.
            self.release(call.session, nxt, t + self.host.delivery(call.key)
                         + call.session.calls[call.index].tool_delay_s)

    def result(self, now: float, last_arrival: float) -> ProbeResult:
        # Runs add their samples at their end: back in time order, ties by replica.
        self.timeline.sort(key=itemgetter(1, 0))
        calls = self.calls
        host = self.host
        outcomes = [call_outcome(c.session, c.index, c.req, c.status, c.true_slo,
                                 host.delivery(c.key)) for c in calls]
        finishes = [o.finish_s for o in outcomes if not math.isnan(o.finish_s)]
        end = max(finishes, default=now)
        return ProbeResult(
            outcomes=outcomes,
            timeline=self.timeline,
            step_overheads_s=[x for r in self.replicas for x in r.step_overheads],
            replan_overheads_s=[x for r in self.replicas for x in r.replan_overheads],
            end_time_s=end,
            backlog_s=max(0.0, end - last_arrival),
            counters={"preemptions": sum(c.req.num_preemptions for c in calls)},
        )

