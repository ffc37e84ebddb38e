"""One simulated GPU replica: runs the batches its scheduler picks, step by step."""

from __future__ import annotations

import time

from slobench.perf.model import PerfModel
from slobench.sched.interface import ReplicaScheduler, StepPlan
from slobench.sched.kv_blocks import BlockPool
from slobench.sched.request import SchedRequest


class SimReplica:
    def __init__(self, index: int, perf: PerfModel, scheduler: ReplicaScheduler,
                 kv: BlockPool) -> None:
        self.index = index
        self.perf = perf
        self.scheduler = scheduler
        self.kv = kv
        self.busy = False
        self.plan: StepPlan | None = None
        self.last_batch_tokens = 0
        # Wall-clock seconds spent inside scheduler.schedule(), split by whether it re-planned.
        self.step_overheads: list[float] = []
        self.replan_overheads: list[float] = []

    def plan_step(self, now: float) -> tuple[StepPlan, float]:
        """Ask the scheduler for a batch; return it and its simulated duration (0 if empty)."""
        t0 = time.perf_counter()
        plan = self.scheduler.schedule(now)
        spent = time.perf_counter() - t0
        (self.replan_overheads if plan.replanned else self.step_overheads).append(spent)
        if not plan.items:
            self.plan = None
            self.busy = False
            return plan, 0.0
        prefill = decode = context = 0
        for req, n in plan.items:
            if n == 1 and req.generated:
                decode += 1
            else:
                prefill += n
            context += req.num_computed
        context += prefill + decode
        self.plan = plan
        self.busy = True
        self.last_batch_tokens = prefill + decode
        return plan, self.perf.step_time(prefill, decode, context)

    def finish_step(self, now: float) -> list[SchedRequest]:
        """Apply the running batch's effects at its end time; return finished requests."""
        plan = self.plan
        assert plan is not None
        self.plan = None
        self.busy = False
        done: list[SchedRequest] = []
        for req, n in plan.items:
            computed = req.num_computed + n
            req.num_computed = computed
            if computed == req.prompt_tokens + req.generated:
                generated = req.generated = req.generated + 1
                req.token_times.append(now)
                if generated == 1:
                    req.first_token_s = now
                if generated >= req.output_tokens:
                    req.finish_s = now
                    self.kv.free(req)
                    self.scheduler.on_finished(req)
                    done.append(req)
        return done
