"""vLLM's own scheduler, every decision unchanged, with each step it runs logged.

Loaded into the stock-vLLM replicas slobench starts (`--scheduler-cls
slobench.engines.vllm.plugin.recording.RecordingScheduler`): it calls vLLM's `schedule()` and
`update_from_output()` as they are and only times them and reads the step's shape, so the
baseline keeps vLLM's default policy and limits while its steps land in the same log the
SLOs-Serve plugin writes (`steplog`). The cost is a few microseconds per step (its own
`schedule()` wall time is in the log). `SlosScheduler` extends it: the hooks
`_plan_step`, `_end_step_plan`, `_predicted_step_s` and `_step_measured` are where a
policy plans a step and learns from it.

With the step log on it also logs each call as it reaches the scheduler (`added`, its
`vllm_xargs` as sent) and its first token (`first_token`), as the plugin does: the hops
of stock vLLM's calls, which have no router in front, beside SLOs-Serve's (SPEC §10).
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

from vllm.v1.core.sched.scheduler import Scheduler

from slobench.core.request import SloEnvelope
from slobench.engines.vllm.plugin.steplog import IDLE_GAP_S, StepLog, StepShape, step_shape

# (engine monotonic time, schedule() wall s, re-planned, budget, scheduled tokens,
#  predicted s, shape, perf_counter at the step's start)
_OpenStep = tuple[float, float, bool, int, int, float, StepShape, float]


class RecordingScheduler(Scheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.step_log = StepLog.from_env()
        self._open_step: _OpenStep | None = None
        self._step_done: float | None = None
        self._no_token_yet: set[str] = set()            # calls logged, no token seen
        self.step_log.write_info(self.engine_info())

    def engine_info(self) -> dict[str, Any]:
        """The limits vLLM's scheduler runs with here: what a simulator twin needs."""
        import vllm

        sc = self.scheduler_config
        return {
            "scheduler": type(self).__name__, "vllm_version": vllm.__version__,
            "max_num_scheduled_tokens": int(self.max_num_scheduled_tokens),
            "max_num_running_reqs": int(self.max_num_running_reqs),
            "num_gpu_blocks": int(self.cache_config.num_gpu_blocks or 0),
            "block_size": int(self.block_size),
            "kv_tokens": int(self.cache_config.num_gpu_blocks or 0) * int(self.block_size),
            "long_prefill_token_threshold": int(getattr(sc, "long_prefill_token_threshold",
                                                        0) or 0),
            "chunked_prefill": bool(getattr(sc, "enable_chunked_prefill", True)),
            "max_model_len": int(self.max_model_len), "pid": os.getpid(),
        }

    # -- hooks (stock vLLM: none of them changes anything) -----------------------------
    def _plan_step(self, now: float) -> tuple[bool, int]:
        """Before vLLM's schedule(): (re-planned, the step's token budget)."""
        return False, int(self.max_num_scheduled_tokens)

    def _end_step_plan(self) -> None:
        """After vLLM's schedule(), however it ended."""

    def _predicted_step_s(self, shape: StepShape) -> float:
        return math.nan

    def _step_measured(self, shape: StepShape, step_s: float) -> None:
        """A step's measured duration, known when the next one starts."""

    # -- calls (diagnostics: the step log on) ------------------------------------------
    def add_request(self, request: Any) -> None:
        known = request.request_id in self.requests
        super().add_request(request)
        if self.step_log.enabled and not known and request.request_id in self.requests:
            self._log_added(request)

    def _log_added(self, request: Any) -> None:
        """A new call reached the scheduler (`SlosScheduler` logs its own, with a verdict)."""
        sp = request.sampling_params
        xargs = dict(sp.extra_args or {}) if sp is not None else {}
        self._no_token_yet.add(request.request_id)
        self.step_log.event({
            "event": "added", "id": request.request_id, "t": time.monotonic(),
            "has_slo": SloEnvelope.from_xargs(xargs).complete,
            "xargs": {k: v for k, v in xargs.items() if isinstance(v, (int, float, str, list))},
            "prompt_tokens": int(request.num_prompt_tokens)})

    def _record_token_times(self, outputs: Any) -> None:
        """The engine time of each logged call's first token (`SlosScheduler`: all of them)."""
        now = time.monotonic()
        for eco in outputs.values():
            for out in eco.outputs:
                if out.new_token_ids and out.request_id in self._no_token_yet:
                    self._no_token_yet.discard(out.request_id)
                    self.step_log.event({"event": "first_token", "id": out.request_id,
                                         "t": now})
                elif out.finish_reason is not None:
                    self._no_token_yet.discard(out.request_id)

    # -- the step ----------------------------------------------------------------------
    def schedule(self, *args: Any, **kwargs: Any) -> Any:
        t_start = time.perf_counter()
        self._close_step(t_start)
        now = time.monotonic()
        replanned, budget = self._plan_step(now)
        try:
            out = super().schedule(*args, **kwargs)
        finally:
            self._end_step_plan()
        wall = time.perf_counter() - t_start
        shape = self._shape(out)
        predicted = self._predicted_step_s(shape) if shape.tokens else 0.0
        self._open_step = (now, wall, replanned, budget, int(out.total_num_scheduled_tokens),
                           predicted, shape, t_start)
        return out

    def _shape(self, out: Any) -> StepShape:
        sched: dict[str, int] = out.num_scheduled_tokens
        reqs = self.requests
        spec = getattr(out, "scheduled_spec_decode_tokens", None) or {}
        return step_shape(sched, {r: int(reqs[r].num_computed_tokens) for r in sched},
                          {r: int(reqs[r].num_tokens) for r in sched},
                          {r: len(v) for r, v in spec.items()})

    def _close_step(self, now: float) -> None:
        """Write the open step with its duration: to its outputs, plus the engine loop's
        gap to `now` (capped: a longer gap is the engine idling)."""
        step, done = self._open_step, self._step_done
        self._open_step = self._step_done = None
        if step is None:
            return
        t, wall, replanned, budget, scheduled, predicted, shape, start = step
        step_s = (done - start) + min(max(0.0, now - done), IDLE_GAP_S) if done else math.nan
        self.step_log.step(t, wall, replanned, budget, scheduled, predicted, step_s, shape)
        if shape.tokens and step_s > 0:
            self._step_measured(shape, step_s)

    def update_from_output(self, scheduler_output: Any, model_runner_output: Any) -> Any:
        outputs = super().update_from_output(scheduler_output, model_runner_output)
        self._step_done = time.perf_counter()
        if self.step_log.enabled:
            self._record_token_times(outputs)
        if not self.has_unfinished_requests():
            self._close_step(self._step_done)
            self.step_log.flush()
        return outputs

    def shutdown(self) -> None:
        self._close_step(time.perf_counter())
        self.step_log.flush()
        super().shutdown()
