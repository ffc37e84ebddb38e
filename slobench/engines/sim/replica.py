"""One simulated GPU replica: runs the batches its scheduler picks, step by step.

A decode item of n > 1 tokens is a speculative step verifying n - 1 draft tokens: each
draft is accepted with probability `spec_acceptance` until the first rejection (a
seeded generator per replica), and the step yields the accepted drafts plus the one
token the verifier samples, as vLLM's rejection sampler does.
"""

from __future__ import annotations

import math
import random
import time

from slobench.core.request import SchedRequest
from slobench.engines.sim.decode_run import DecodeRun, plan_run
from slobench.perf.model import PerfModel
from slobench.perf.plan_timeline import PlanFollower
from slobench.sched.interface import ReplicaScheduler, StepPlan
from slobench.sched.kv_blocks import BlockPool


class SimReplica:
    def __init__(self, index: int, perf: PerfModel, scheduler: ReplicaScheduler,
                 kv: BlockPool, spec_acceptance: float = 0.0, seed: int = 0,
                 plan_follower: PlanFollower | None = None) -> None:
        if not 0.0 <= spec_acceptance < 1.0:
            raise ValueError(f"spec_acceptance must be in [0, 1), got {spec_acceptance}")
        self.index = index
        self.spec_acceptance = spec_acceptance
        self._rng = random.Random(seed * 1_000_003 + index)
        self.perf = perf
        self.scheduler = scheduler
        self.kv = kv
        self.busy = False
        self.plan: StepPlan | None = None
        self.last_batch_tokens = 0
        # Off for callers that drive steps one by one; SimCluster, which pushes the
        # step event at `step_end`, turns it on.
        self.fast_forward = False
        self.horizon = math.inf              # no step of a fast-forward run ends after it
        # A profile fitted on chunks' attention pairs times a step from them.
        self._times_chunks = (type(perf).step_time_of_chunks
                              is not PerfModel.step_time_of_chunks)
        self.run: DecodeRun | None = None    # the pure-decode steps now running as one
        # Wall-clock seconds spent inside scheduler.schedule(), split by whether it re-planned.
        self.step_overheads: list[float] = []
        self.replan_overheads: list[float] = []
        # A twin's replica: the model its real replica planned with, instant by instant.
        self.plan_follower = plan_follower

    def follow_plan(self, now: float) -> None:
        """A twin's replica takes the model its real replica planned with by `now`."""
        follower = self.plan_follower
        if follower is not None and follower.advance(now):
            self.scheduler.set_perf(follower.model)

    def plan_step(self, now: float) -> tuple[StepPlan, float]:
        """Ask the scheduler for a batch; return it and its simulated duration (0 if empty)."""
        if self.plan_follower is not None:
            self.follow_plan(now)
        t0 = time.perf_counter()
        plan = self.scheduler.schedule(now)
        spent = time.perf_counter() - t0
        (self.replan_overheads if plan.replanned else self.step_overheads).append(spent)
        if not plan.items:
            self.plan = None
            self.busy = False
            return plan, 0.0
        prefill = decode = context = drafts = pairs = 0
        left = 1 << 62              # fewest tokens a request has left to make, this step's on
        chunked = False             # a prompt this step does not complete
        for req, n in plan.items:
            computed, generated = req.num_computed, req.generated
            if generated and computed == req.prompt_tokens + generated - 1:
                decode += n                     # n - 1 of them speculative drafts
                if n > 1 + drafts:
                    drafts = n - 1
                if req.output_tokens - generated < left:
                    left = req.output_tokens - generated
            else:
                prefill += n
                pairs += n * (computed + n)
                if computed + n != req.prompt_tokens + generated:
                    chunked = True
                elif req.output_tokens - generated < left:
                    left = req.output_tokens - generated
            context += computed
        context += prefill + decode
        self.plan = plan
        self.busy = True
        self.last_batch_tokens = prefill + decode
        dt = (self.perf.step_time_of_chunks(prefill, decode, context, drafts, pairs)
              if self._times_chunks and prefill else
              self.perf.step_time(prefill, decode, context, drafts))
        # Step j leaves each request with generated + j + 1 tokens: a run ends at the
        # latest with the step that finishes the first of them.
        if (self.fast_forward and not chunked and not drafts and not plan.preempted
                and left >= 2):
            self._try_run(plan, now, now + dt, left, prefill > 0)
        return plan, dt

    def _try_run(self, plan: StepPlan, now: float, first_end: float, room: int,
                 opens_with_prefill: bool) -> None:
        """Start a fast-forward run of at most `room` steps if the policy says its
        pure-decode batch repeats (or, after a step completing prompts, that every
        request then decodes a token a step)."""
        t0 = time.perf_counter()
        check = (self.scheduler.steady_after_prefill(plan, now) if opens_with_prefill
                 else self.scheduler.steady_decode(plan, now))
        if check is None:
            return
        self.run = plan_run(plan.items, room, self.kv, self.perf, check, first_end,
                            self.horizon, self.scheduler.queue_lengths(), opens_with_prefill)
        if self.run is not None:
            self.run.cost_s = time.perf_counter() - t0

    @property
    def step_end(self) -> float | None:
        """When the running run ends (None: a single step, ending at start + duration)."""
        return self.run.ends[-1] if self.run is not None else None

    def _accepted(self, verified: int) -> int:
        """Tokens a speculative step over `verified` tokens yields: the drafts accepted
        before the first rejection, plus the verifier's own token."""
        drafts = 0
        while drafts < verified - 1 and self._rng.random() < self.spec_acceptance:
            drafts += 1
        return drafts + 1

    def finish_step(self, now: float) -> list[SchedRequest]:
        """Apply the running batch's effects at its end time; return finished requests."""
        plan = self.plan
        assert plan is not None
        self.plan = None
        self.busy = False
        done: list[SchedRequest] = []
        if self.run is not None:     # only a run's last step may finish requests
            run, self.run = self.run, None
            if run.opens_with_prefill:
                self._apply(plan.items, run.ends[0], done)     # finishes nobody
            # One overhead per step, as if each had been scheduled: the look-ahead's cost.
            repeats = run.steps - 1
            self.step_overheads.extend([run.cost_s / max(repeats, 1)] * repeats)
            if run.apply(self.kv):
                for req in run.reqs:
                    if req.generated >= req.output_tokens:
                        self._finish(req, now, done)
            return done
        self._apply(plan.items, now, done)
        return done

    def _apply(self, items: list[tuple[SchedRequest, int]], now: float,
               done: list[SchedRequest]) -> None:
        """The effects of one step ending at `now` with batch `items`; finished
        requests are settled and put in `done`."""
        for req, n in items:
            computed, generated = req.num_computed, req.generated
            if generated and computed == req.prompt_tokens + generated - 1:   # a decode
                if n > 1:
                    # Speculative: only accepted tokens stay, none past the output length.
                    n = min(self._accepted(n), req.output_tokens - generated)
                    req.token_times.extend([now] * n)
                else:
                    req.token_times.append(now)
                req.num_computed = computed + n
                generated = req.generated = generated + n
            else:
                computed = req.num_computed = computed + n
                if computed != req.prompt_tokens + generated:
                    continue                    # a prefill chunk: no token yet
                generated = req.generated = generated + 1   # a prefill (or recompute) done
                req.token_times.append(now)
                if generated == 1:
                    req.first_token_s = now
            if generated >= req.output_tokens:
                self._finish(req, now, done)

    def _finish(self, req: SchedRequest, now: float, done: list[SchedRequest]) -> None:
        req.finish_s = now
        self.kv.free(req)
        self.scheduler.on_finished(req)
        done.append(req)
