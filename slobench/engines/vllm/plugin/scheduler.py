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

Speculative decoding (`--spec-tokens`, vLLM's n-gram drafter): a due decode's cap is its
tier's draft length plus one; decodes ahead of schedule verify none. Not enforced: the
core's own best-effort preemptions (vLLM's allocator preempts, best-effort first).
"""

from __future__ import annotations

import math
import time
from typing import Any

from vllm.v1.engine import EngineCoreOutput, EngineCoreOutputs, FinishReason
from vllm.v1.request import Request, RequestStatus

from slobench.core.request import SchedRequest
from slobench.engines.vllm.plugin.config import (
    DEFAULT_FEEDBACK_QUANTILE,
    STOP_REASON_BEST_EFFORT,
    STOP_REASON_REJECTED,
    load_plugin_config,
    perf_from_dict,
)
from slobench.engines.vllm.plugin.mirror import mirror_request
from slobench.engines.vllm.plugin.recording import RecordingScheduler
from slobench.engines.vllm.plugin.steplog import StepShape
from slobench.perf.feedback import OnlineStepModel
from slobench.sched.interface import SchedContext, Verdict
from slobench.sched.kv_blocks import BLOCK_SIZE, BlockPool
from slobench.sched.slos.guards import SloGuard
from slobench.sched.slos.policy import SlosConfig, SlosPolicy


class SlosScheduler(RecordingScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg = load_plugin_config()
        if "perf" not in cfg:
            raise RuntimeError("SlosScheduler needs $SLOBENCH_SLOS_CONFIG with a 'perf' "
                               "model (slobench writes it from calibration)")
        calibrated = perf_from_dict(cfg["perf"])
        # The core plans with a step-time model refitted from this engine's own steps
        # (slobench.perf.feedback), starting from the calibrated one; `feedback: false`
        # keeps the calibrated model.
        self._online = (OnlineStepModel(calibrated, quantile=float(cfg.get(
            "feedback_quantile", DEFAULT_FEEDBACK_QUANTILE)))
            if cfg.get("feedback", True) else None)
        self._perf = self._online or calibrated
        self._same_host = bool(cfg.get("same_host", False))
        self._guard = SloGuard(float(cfg.get("slo_guard") or 1.0),
                               float(cfg.get("guard_s") or 0.0))
        engine_tokens = int(self.cache_config.num_gpu_blocks) * int(self.block_size)
        kv_tokens = int(cfg.get("kv_tokens") or engine_tokens)
        slos_fields = {k: v for k, v in (cfg.get("slos") or {}).items()
                       if k in SlosConfig.__dataclass_fields__}
        # TPOT tiers: the configured ones plus every TPOT SLO requests bring; until the
        # first is known the planner gets a placeholder tier (nothing decodes then).
        self._tier_set: set[float] = {float(t) for t in cfg.get("tpot_tiers_s") or ()}
        self._tiers: tuple[float, ...] = tuple(sorted(self._tier_set)) or (1.0,)
        ctx = SchedContext(perf=self._perf, kv=BlockPool(max(1, kv_tokens // BLOCK_SIZE)),
                           tpot_tiers_s=self._tiers,
                           options={"slos": SlosConfig(**slos_fields)})
        self.policy = SlosPolicy(ctx)
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
        sr, slo = self._make_mirror(request, now)
        last_try = bool(slo.get("last_try", True))
        verdict = self.policy.add_request(sr, now, last_try)
        if sr.has_slo:
            self._add_tier(sr)
        self._log_request(request, sr, slo, verdict, now, last_try)
        if verdict == Verdict.PENDING:
            self._take_out_of_waiting(request)
            self._held[request.request_id] = request
        elif verdict == Verdict.BEST_EFFORT:
            request.stop_reason = STOP_REASON_BEST_EFFORT

    def _make_mirror(self, request: Request, now: float) -> tuple[SchedRequest, dict]:
        sp = request.sampling_params
        xargs = dict(sp.extra_args or {}) if sp is not None else {}
        # The engine's own arrival (wall clock of the API server) on this clock.
        arrival = now - max(0.0, time.time() - float(request.arrival_time))
        if self._same_host and isinstance(xargs.get("arrival_monotonic_s"), (int, float)):
            arrival = float(xargs["arrival_monotonic_s"])
        sr = mirror_request(self._next_rid, xargs, arrival, int(request.num_prompt_tokens),
                            int(request.max_tokens), self._guard)
        self._next_rid += 1
        self._mirror[request.request_id] = sr
        self._vreq[sr.rid] = request
        return sr, xargs

    def _add_tier(self, sr: SchedRequest) -> None:
        """A TPOT SLO the planner has not seen: the core re-plans with it."""
        new = {t for _, t in sr.phase_tpots} - self._tier_set
        if not new:
            return
        self._tier_set |= new
        self._tiers = tuple(sorted(self._tier_set))
        self.policy.set_tiers(self._tiers)

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
        return self._perf.step_time(shape.prefill_tokens, shape.decode_tokens,
                                    shape.context_tokens)

    def _step_measured(self, shape: StepShape, step_s: float) -> None:
        """Each measured step teaches the online model; a refit rebuilds the planner."""
        if self._online is not None and self._online.observe(
                shape.prefill_tokens, shape.decode_tokens, shape.context_tokens, step_s,
                shape.prefill_pairs):
            self.policy.refresh_models()
            self._log({"event": "perf_model", "t": time.monotonic(),
                       "coef": self._online.coef, "inflation": self._online.inflation})

    def _sync(self, now: float) -> None:
        """Progress from vLLM into the mirrors; newly finished requests leave the core."""
        for sr in list(self._mirror.values()):
            req = self._vreq[sr.rid]
            if req.request_id in self._held:
                continue
            computed = int(req.num_computed_tokens)
            if computed < sr.num_computed:          # vLLM preempted it (recompute)
                self.policy.ctx.kv.free(sr)
                sr.num_preemptions += 1
            sr.num_computed = computed
            generated = int(req.num_output_tokens)
            if generated > 0 and math.isnan(sr.first_token_s):
                sr.first_token_s = now
            sr.generated = generated

    def _enforce(self, plan: Any) -> int:
        """Release admitted requests into vLLM's queues, order them as the plan does;
        returns the step's token budget."""
        pol = self.policy
        for sr in [*pol.admitted, *pol.best_effort]:
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
        for sr in pol.admitted:
            rank.setdefault(self._vreq[sr.rid].request_id, (1, sr.ttft_deadline_s))
        for k, sr in enumerate(pol.best_effort):
            rank.setdefault(self._vreq[sr.rid].request_id, (2, k))
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
        outputs = super().update_from_output(scheduler_output, model_runner_output)
        if self.step_log.enabled:               # engine token times: diagnostics only
            self._record_token_times(outputs)
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
        pol = self.policy
        times = self._token_t.pop(rid, [])
        self._log({"event": "finished", "id": rid, "t": time.monotonic(),
                   "best_effort": sr.best_effort, "preemptions": sr.num_preemptions,
                   "token_t": [round(t, 5) for t in times]})
        self._mirror.pop(rid, None)
        self._vreq.pop(sr.rid, None)
        pol.ctx.kv.free(sr)
        if sr in pol.pending:
            pol.pending.remove(sr)
        elif sr in pol.admitted or sr in pol.best_effort:
            pol.on_finished(sr)

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
                   "call": sr.sched_state.get("call"), "why": sr.sched_state.get("why")})

    def _log(self, row: dict) -> None:
        self.step_log.event(row)
