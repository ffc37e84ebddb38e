"""SLOs-Serve inside vLLM: a `vllm.v1.core.sched.scheduler.Scheduler` subclass.

Loaded by `vllm serve --scheduler-cls slobench.engines.vllm.plugin.scheduler.SlosScheduler`, in
the engine-core process. The decisions come from the same pure core the simulator runs
(`SlosPolicy`); this class mirrors vLLM's requests into `SchedRequest`s (`mirror.py`:
the SLO from `vllm_xargs`, tightened by the replica's guard; none: best-effort) and
enforces the core's step plan:

- a request the core has not admitted yet is held out of vLLM's waiting queue; one it
  rejects is finished as aborted at once (no token: the client's stream ends empty);
- each step: progress is synced from vLLM (computed and output tokens, first tokens,
  vLLM's preemptions), the core plans the step, `max_num_scheduled_tokens` is set to the
  plan's total, vLLM's queues are put in plan order (due decodes, EDF prefills, decodes
  ahead of schedule, best-effort last, so vLLM's preemption of the last running request
  hits best-effort first) and each request is capped at its planned tokens through
  `_reserve_prefill_lookahead` (vLLM serves running requests first: without the cap a
  running long prefill would take an earlier-deadline prefill's budget);
- the core plans with a step-time profile refitted from this engine's own steps
  (`slobench.perf.feedback`), each of which the recording base class logs.

It talks to the core through the policy interface only (`sched.interface`): the plan
names the requests to release and to reject, `serving_order` the order of the rest,
`on_finished` / `on_aborted` / `set_tiers` / `set_perf` keep the core's view current;
the core is built from the plugin's config in `core_setup.py`.

Speculative decoding (`--spec-tokens`, vLLM's n-gram drafter): a due decode's cap is its
tier's draft length plus one; decodes ahead of schedule verify none. Not enforced: the
core's own best-effort preemptions (vLLM's allocator preempts, best-effort first).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from vllm.v1.engine import EngineCoreOutput, EngineCoreOutputs, FinishReason
from vllm.v1.request import Request, RequestStatus

from slobench.core.outcome import STOP_REASON_BEST_EFFORT, STOP_REASON_REJECTED
from slobench.core.request import SchedRequest, SloEnvelope
from slobench.engines.vllm.plugin.config import load_plugin_config
from slobench.engines.vllm.plugin.core_setup import build_core
from slobench.engines.vllm.plugin.mirror import mirror_request
from slobench.engines.vllm.plugin.recording import RecordingScheduler
from slobench.engines.vllm.plugin.steplog import StepShape
from slobench.sched.interface import StepPlan, Verdict

log = logging.getLogger(__name__)
# vLLM statuses of a request that ran to its end (else it was aborted, or never ran).
_RAN_TO_END = frozenset(getattr(RequestStatus, name) for name in (
    "FINISHED_STOPPED", "FINISHED_LENGTH_CAPPED", "FINISHED_REPETITION")
    if hasattr(RequestStatus, name))


class SlosScheduler(RecordingScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        engine_tokens = int(self.cache_config.num_gpu_blocks) * int(self.block_size)
        self._core = build_core(load_plugin_config(), engine_tokens)
        self.policy = self._core.policy
        self._orig_max_tokens = self.max_num_scheduled_tokens
        self._mirror: dict[str, SchedRequest] = {}        # vLLM request id -> mirror
        self._vreq: dict[int, Request] = {}               # mirror rid -> vLLM request
        self._held: dict[str, Request] = {}               # not yet admitted by the core
        self._reject_outputs: list[tuple[int, EngineCoreOutput]] = []
        self._next_rid = 0
        self._token_t: dict[str, list[float]] = {}        # engine times of output tokens
        self._caps: dict[str, int] | None = None          # this step's tokens per request

    # -- requests in -------------------------------------------------------------------
    def add_request(self, request: Request) -> None:
        known = request.request_id in self.requests
        super().add_request(request)
        if known or request.request_id not in self.requests:
            return                                  # a streaming-input update: not ours
        now = time.monotonic()
        sp = request.sampling_params
        xargs = dict(sp.extra_args or {}) if sp is not None else {}
        slo = SloEnvelope.from_xargs(xargs)
        sr = self._make_mirror(request, slo, now)
        last_try = slo.last_try is not False        # not said: no other replica is offered it
        verdict = self.policy.add_request(sr, now, last_try)
        if sr.has_slo:
            self._core.learn_tiers(sr)
        self._log_request(request, sr, xargs, verdict, now, last_try)
        if verdict == Verdict.PENDING:
            self._take_out_of_waiting(request)
            self._held[request.request_id] = request
        elif verdict == Verdict.BEST_EFFORT:
            request.stop_reason = STOP_REASON_BEST_EFFORT

    def _make_mirror(self, request: Request, slo: SloEnvelope, now: float) -> SchedRequest:
        # The engine's own arrival (wall clock of the API server) on this clock.
        arrival = now - max(0.0, time.time() - float(request.arrival_time))
        if self._core.same_host and slo.arrival_monotonic_s is not None:
            arrival = slo.arrival_monotonic_s
        sr = mirror_request(self._next_rid, slo, arrival, int(request.num_prompt_tokens),
                            int(request.max_tokens), self._core.guard)
        self._next_rid += 1
        self._mirror[request.request_id] = sr
        self._vreq[sr.rid] = request
        return sr

    def _log_added(self, request: Request) -> None:
        """Logged in `add_request`, with the core's verdict."""

    def _take_out_of_waiting(self, request: Request) -> None:
        for queue in (self.waiting, self.kv_holding_waiting):
            if request in queue:
                queue.remove_request(request)

    # -- the step (RecordingScheduler's hooks) -----------------------------------------
    def _plan_step(self, now: float) -> tuple[bool, int]:
        """Sync the mirrors, let the core plan, and set vLLM's budget and caps to it."""
        self._sync(now)
        plan = self.policy.schedule(now)
        for sr in plan.rejected:
            self._reject(sr)
        budget = self._enforce(plan)
        self.max_num_scheduled_tokens = min(budget, self._orig_max_tokens)
        return plan.replanned, self.max_num_scheduled_tokens

    def _end_step_plan(self) -> None:
        self._caps = None
        self.max_num_scheduled_tokens = self._orig_max_tokens

    def _predicted_step_s(self, shape: StepShape) -> float:
        return self._core.perf.step_time_of_chunks(
            shape.prefill_tokens, shape.decode_tokens, shape.context_tokens,
            shape.draft_steps, shape.prefill_pairs)

    def _step_measured(self, shape: StepShape, step_s: float) -> None:
        """Each measured step teaches the online model; a refit rebuilds the planner."""
        online = self._core.online
        if online is None:
            return
        stalls = online.stalls
        changed = online.observe(shape.prefill_tokens, shape.decode_tokens,
                                 shape.context_tokens, step_s, shape.prefill_pairs)
        if online.stalls != stalls:                 # a host stall, not learnt from
            self._log({"event": "host_stall", "t": time.monotonic(), "step_s": step_s,
                       "prefill_tokens": shape.prefill_tokens})
        if changed:
            self.policy.set_perf(online)            # refitted in place: re-plan with it
            log.debug("step-time model refitted: %s", online.coef)
            self._log({"event": "perf_model", "t": time.monotonic(),
                       "coef": online.coef, "inflation": online.inflation,
                       "inflation_decode": online.inflation_decode,
                       "inflation_one": online.inflation_one,
                       "inflation_central": online.inflation_central})

    def _sync(self, now: float) -> None:
        """Progress from vLLM into the mirrors; newly finished requests leave the core."""
        for sr in list(self._mirror.values()):
            req = self._vreq[sr.rid]
            if req.request_id in self._held:
                continue
            computed = int(req.num_computed_tokens)
            if computed < sr.num_computed:          # vLLM preempted it (recompute)
                self._core.kv.free(sr)
                sr.num_preemptions += 1
            sr.num_computed = computed
            generated = int(req.num_output_tokens)
            if generated > 0 and math.isnan(sr.first_token_s):
                sr.first_token_s = now
            sr.generated = generated

    def _enforce(self, plan: StepPlan) -> int:
        """Release the requests the core now serves into vLLM's queues, order them as the
        plan does; returns the step's token budget."""
        for sr in plan.released:
            req = self._vreq.get(sr.rid)
            if req is not None and self._held.pop(req.request_id, None) is not None:
                if sr.best_effort:
                    req.stop_reason = STOP_REASON_BEST_EFFORT
                    self._log_verdict("best_effort", req, sr)
                self._enqueue_waiting_request(req)
        rank: dict[str, tuple] = {}
        self._caps = {}
        budget = 0
        for i, (sr, n) in enumerate(plan.items):
            budget += n
            rid = self._vreq[sr.rid].request_id
            rank[rid] = (0, i)
            self._caps[rid] = self._caps.get(rid, 0) + n
        for sr, key in self.policy.serving_order():     # the rest after the plan's
            rank.setdefault(self._vreq[sr.rid].request_id, key)
        far = (3, 0)
        self.running.sort(key=lambda r: rank.get(r.request_id, far))
        if len(self.waiting) > 1 and hasattr(self.waiting, "clear"):
            ordered = sorted(self.waiting, key=lambda r: rank.get(r.request_id, far))
            self.waiting.clear()
            for r in ordered:
                self.waiting.add_request(r)
        return budget

    def _reserve_prefill_lookahead(self, request: Request, num_computed_tokens: int,
                                   num_new_tokens: int) -> int:
        n = super()._reserve_prefill_lookahead(request, num_computed_tokens, num_new_tokens)
        if self._caps is None:
            return n
        return min(n, self._caps.get(request.request_id, 0))

    def _reject(self, sr: SchedRequest) -> None:
        req = self._vreq.get(sr.rid)
        if req is None:
            return
        self._held.pop(req.request_id, None)
        self._log_verdict("rejected", req, sr)
        self._forget(req.request_id, sr)
        self.finish_requests(req.request_id, RequestStatus.FINISHED_ABORTED)
        self._reject_outputs.append((req.client_index, EngineCoreOutput(
            request_id=req.request_id, new_token_ids=[], finish_reason=FinishReason.ABORT,
            stop_reason=STOP_REASON_REJECTED)))

    # -- requests out ------------------------------------------------------------------
    def update_from_output(self, scheduler_output: Any, model_runner_output: Any) -> Any:
        # The base class records the engine token times (diagnostics: the step log on).
        outputs = super().update_from_output(scheduler_output, model_runner_output)
        for client, out in self._reject_outputs:
            eco = outputs.get(client)
            if eco is None:
                outputs[client] = EngineCoreOutputs(outputs=[out])
            else:
                eco.outputs.append(out)
        self._reject_outputs.clear()
        self._drop_finished()
        return outputs

    def _record_token_times(self, outputs: Any) -> None:
        now = time.monotonic()
        for eco in outputs.values():
            for out in eco.outputs:
                if out.new_token_ids:
                    self._token_t.setdefault(out.request_id, []).extend(
                        [now] * len(out.new_token_ids))

    def finish_requests(self, request_ids: Any, finished_status: Any) -> list[Request]:
        done = super().finish_requests(request_ids, finished_status)
        for req in done:
            self._held.pop(req.request_id, None)
        self._drop_finished()
        return done

    def _drop_finished(self) -> None:
        for rid, sr in list(self._mirror.items()):
            req = self._vreq[sr.rid]
            if req.is_finished():
                self._forget(rid, sr)

    def _forget(self, rid: str, sr: SchedRequest) -> None:
        times = self._token_t.pop(rid, [])
        self._log({"event": "finished", "id": rid, "t": time.monotonic(),
                   "best_effort": sr.best_effort, "preemptions": sr.num_preemptions,
                   "admitted_by": sr.sched_state.get("admitted_by"),
                   "token_t": [round(t, 5) for t in times]})
        self._mirror.pop(rid, None)
        req = self._vreq.pop(sr.rid, None)
        self._core.kv.free(sr)
        if req is not None and req.status in _RAN_TO_END:
            self.policy.on_finished(sr)
        else:                       # aborted, or rejected (then the core holds it nowhere)
            self.policy.on_aborted(sr)

    def get_request_counts(self) -> tuple[int, int]:
        running, waiting = super().get_request_counts()
        return running, waiting + len(getattr(self, "_held", ()))

    # -- files -------------------------------------------------------------------------
    def _log_request(self, request: Request, sr: SchedRequest, xargs: dict, verdict: Verdict,
                     now: float, last_try: bool) -> None:
        self._log({"event": "added", "id": request.request_id, "t": now,
                   "has_slo": sr.has_slo, "xargs": {k: v for k, v in xargs.items()
                                                   if isinstance(v, (int, float, str, list))},
                   "ttft_deadline_s": sr.ttft_deadline_s if sr.has_slo else None,
                   "arrival_s": sr.arrival_s, "verdict": str(verdict), "last_try": last_try,
                   "prompt_tokens": sr.prompt_tokens, "max_tokens": sr.output_tokens})

    def _log_verdict(self, event: str, req: Request, sr: SchedRequest) -> None:
        """A rejection or a demotion to best-effort, with the core's reason (the audit)."""
        self._log({"event": event, "id": req.request_id, "t": time.monotonic(),
                   "call": sr.sched_state.get("call"), "why": sr.sched_state.get("why"),
                   "detail": sr.sched_state.get("why_detail"),
                   "kept": sr.sched_state.get("kept")})

    def _log(self, row: dict) -> None:
        self.step_log.event(row)
