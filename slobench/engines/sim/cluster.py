"""Discrete-event simulation of N replicas behind a router (SPEC §2, engine `sim`).

Events are call arrivals and step completions. A replica runs one batch at a
time; its duration comes from the performance model. Chained calls (tool
calling) are released when the previous call of the session ends, plus the
tool delay, so the simulation is closed-loop within a session exactly as a
real client would be.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter

from slobench.core.outcome import CallOutcome, ProbeResult, Status
from slobench.core.request import SchedRequest
from slobench.engines.sim.offer_order import Router
from slobench.engines.sim.replica import SimReplica
from slobench.sched.interface import Verdict
from slobench.sched.slos.guards import SloGuard
from slobench.workloads.entities import CallSpec, SessionSpec, Workload

RequestFactory = Callable[[SessionSpec, int, CallSpec, float], SchedRequest]

_ARRIVAL, _STEP_DONE, _WAKE = 0, 1, 2


@dataclass(slots=True, eq=False)
class _Call:
    session: SessionSpec
    index: int
    req: SchedRequest
    offers: list[int] = field(default_factory=list)
    tries: int = 0
    status: str = Status.OK
    true_slo: tuple[float, tuple[tuple[int, float], ...]] | None = None   # when guarded


class SimCluster:
    def __init__(self, replicas: list[SimReplica], router: Router,
                 timeline_interval_s: float = 0.25, drain_limit_s: float = 600.0,
                 slo_guard: SloGuard | None = None, fast_forward: bool = True) -> None:
        self.replicas = replicas
        self.fast_forward = fast_forward     # pure-decode stretches in one move
        self.slo_guard = slo_guard if slo_guard is not None and slo_guard.active else None
        self.router = router
        self.timeline_interval_s = timeline_interval_s
        self.drain_limit_s = drain_limit_s

    def run(self, workload: Workload, make_request: RequestFactory) -> ProbeResult:
        heap: list[tuple[float, int, int, object]] = []
        seq = 0
        calls: list[_Call] = []
        by_req: dict[int, _Call] = {}
        timeline: list[tuple] = []
        next_sample = [0.0] * len(self.replicas)
        to_kick: set[int] = set()
        tokens = [0] * len(self.replicas)
        kicking: int | None = None         # the replica whose kick is offering calls now

        def push(t: float, kind: int, obj: object) -> None:
            nonlocal seq
            seq += 1
            heapq.heappush(heap, (t, seq, kind, obj))

        def push_step(rep: SimReplica, t: float) -> None:
            # A token per push: a fast-forward run cut short leaves a stale event behind.
            tokens[rep.index] += 1
            push(t, _STEP_DONE, (rep, tokens[rep.index]))

        def sample_run(rep: SimReplica) -> None:
            """The timeline samples the kicks inside a fast-forward run would have taken."""
            run = rep.run
            assert run is not None
            waiting, running = run.queue
            for t, kv_used in run.samples(rep.kv.total_blocks):
                if t >= next_sample[rep.index]:
                    next_sample[rep.index] = t + self.timeline_interval_s
                    timeline.append((rep.index, t, waiting, running, rep.last_batch_tokens,
                                     kv_used))

        def release(session: SessionSpec, index: int, t: float) -> None:
            req = make_request(session, index, session.calls[index], t)
            call = _Call(session, index, req)
            if self.slo_guard is not None:       # the policy plans on guarded SLOs
                call.true_slo = (req.ttft_slo_s, req.phase_tpots)
                req.sched_state["unguarded_deadline_s"] = req.ttft_deadline_s
                req.ttft_slo_s = self.slo_guard.ttft_slo(req.ttft_slo_s)
                req.phase_tpots = self.slo_guard.phase_tpots(req.phase_tpots)
            calls.append(call)
            by_req[req.rid] = call
            push(t, _ARRIVAL, call)

        def kick(rep: SimReplica, t: float) -> None:
            nonlocal kicking
            to_kick.discard(rep.index)
            if rep.busy:
                return
            plan, dt = rep.plan_step(t)
            kicking = rep.index     # its rejected calls go to other replicas only
            for rejected in plan.rejected:
                offer(by_req[rejected.rid], t)
            kicking = None
            if plan.items:
                end = rep.step_end
                push_step(rep, t + dt if end is None else end)
            elif rep.scheduler.has_work():
                wake = getattr(rep.scheduler, "next_wakeup", lambda _t: None)(t)
                if wake is not None and wake > t:
                    push(wake, _WAKE, rep)
            if t >= next_sample[rep.index]:
                next_sample[rep.index] = t + self.timeline_interval_s
                waiting, running = rep.scheduler.queue_lengths()
                tokens = rep.last_batch_tokens if plan.items else 0
                timeline.append((rep.index, t, waiting, running, tokens, rep.kv.used_fraction))

        def offer(call: _Call, t: float) -> None:
            """Offer the call to its next replica; a call out of replicas is rejected."""
            if call.tries >= len(call.offers):
                call.status = Status.REJECTED
                call.req.rejected = True
                call.req.replica = -1
                end_call(call, t)
                return
            rep = self.replicas[call.offers[call.tries]]
            call.tries += 1
            if rep.run is not None and rep.run.cut(t, rep.index, kicking):
                push_step(rep, rep.run.ends[-1])    # the run stops before the new call
            last = call.tries == len(call.offers)
            verdict = rep.scheduler.add_request(call.req, t, last)
            if verdict is Verdict.REJECTED:
                offer(call, t)
                return
            call.req.replica = rep.index
            if verdict is Verdict.BEST_EFFORT:
                call.req.best_effort = True
            to_kick.add(rep.index)

        def end_call(call: _Call, t: float) -> None:
            nxt = call.index + 1
            if nxt < len(call.session.calls):
                # The chain goes on even after a rejected call, so the offered load
                # stays the workload's; the session cannot attain anyway.
                release(call.session, nxt, t + call.session.calls[call.index].tool_delay_s)

        for session in workload.sessions:
            release(session, 0, session.start_s)

        last_arrival = workload.sessions[-1].start_s if workload.sessions else 0.0
        horizon = last_arrival + self.drain_limit_s
        now = 0.0
        for rep in self.replicas:
            rep.horizon, rep.fast_forward = horizon, self.fast_forward
        while heap:
            t, _, kind, obj = heapq.heappop(heap)
            if kind == _STEP_DONE and obj[1] != tokens[obj[0].index]:  # type: ignore[index]
                pass            # a cut run's old end: only the kicks below may be due
            elif t > horizon:
                now = t
                break
            elif kind == _ARRIVAL:
                now = t
                call = obj  # type: ignore[assignment]
                call.offers = self.router.offer_order()
                offer(call, now)
            elif kind == _STEP_DONE:
                now = t
                rep = obj[0]  # type: ignore[index]
                if rep.run is not None:
                    sample_run(rep)
                for req in rep.finish_step(now):
                    end_call(by_req[req.rid], now)
                to_kick.add(rep.index)
            else:
                now = t
                to_kick.add(obj.index)  # type: ignore[attr-defined]
            # Replicas start their next step only once every event of this instant is
            # in, as an engine loop picks up all requests that arrived before its step.
            while to_kick and (not heap or heap[0][0] > now):
                kick(self.replicas[min(to_kick)], now)

        # Runs add their samples at their end: back in time order, ties by replica.
        timeline.sort(key=itemgetter(1, 0))
        outcomes = [self._outcome(c) for c in calls]
        finishes = [o.finish_s for o in outcomes if not math.isnan(o.finish_s)]
        end = max(finishes, default=now)
        return ProbeResult(
            outcomes=outcomes,
            timeline=timeline,
            step_overheads_s=[x for r in self.replicas for x in r.step_overheads],
            replan_overheads_s=[x for r in self.replicas for x in r.replan_overheads],
            end_time_s=end,
            backlog_s=max(0.0, end - last_arrival),
            counters={"preemptions": sum(c.req.num_preemptions for c in calls)},
        )

    @staticmethod
    def _outcome(call: _Call) -> CallOutcome:
        req = call.req
        spec = call.session.calls[call.index]
        status = call.status
        error = ""
        if status == Status.OK:
            if req.best_effort:
                status = Status.BEST_EFFORT
            if not req.finished:
                status = Status.TIMEOUT
                error = "unfinished when the simulation's drain limit ran out"
        elif status == Status.REJECTED:
            error = "rejected by admission control on every replica offered"
        ttft_slo, phases = call.true_slo or (req.ttft_slo_s, req.phase_tpots)
        return CallOutcome(
            session_id=call.session.session_id,
            call_index=call.index,
            stage=spec.stage,
            request_class=call.session.request_class,
            scheduled_s=req.arrival_s,
            actual_send_s=req.arrival_s,
            prompt_tokens=req.prompt_tokens,
            expected_tokens=req.output_tokens,
            phase_tpots=phases,
            ttft_slo_s=ttft_slo,
            status=str(status),
            replica=req.replica,
            token_times=req.token_times,
            finish_s=req.finish_s,
            error=error,
            reason=(str(req.sched_state.get("why", "")) if status in
                    (Status.REJECTED, Status.BEST_EFFORT) else ""),
        )
