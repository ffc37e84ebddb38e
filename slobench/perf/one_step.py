"""The online step model's view of one prefill step alone (`OnlineStepModel.one_step_model`):
what admission's first step and a step cut at a first token's deadline are sized and
timed on; one draw of a step's error, not the run of chunks a long prompt waits for."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slobench.perf.model import PerfModel

if TYPE_CHECKING:
    from slobench.perf.feedback import OnlineStepModel


class OneStepView(PerfModel):
    """The online model's view of one prefill step alone: its prefill steps inflated at
    `one_step_quantile` of single steps' ratios, not at the quantile of runs of steps
    that covers a prompt's many chunks."""

    name = "online-one-step"

    def __init__(self, online: OnlineStepModel) -> None:
        self.online = online

    def step_time(self, prefill_tokens: int, decode_tokens: int, context_tokens: int,
                  draft_steps: int = 0) -> float:
        online = self.online
        if online.profile is None:
            return online.step_time(prefill_tokens, decode_tokens, context_tokens, draft_steps)
        return online.inflated(online.inflation_one, prefill_tokens, decode_tokens,
                               context_tokens, draft_steps, prefill_tokens * context_tokens,
                               chunks=False)

    def step_time_of_chunks(self, prefill_tokens: int, decode_tokens: int,
                            context_tokens: int, draft_steps: int, prefill_pairs: int) -> float:
        online = self.online
        if online.profile is None:
            return online.step_time_of_chunks(prefill_tokens, decode_tokens, context_tokens,
                                              draft_steps, prefill_pairs)
        return online.inflated(online.inflation_one, prefill_tokens, decode_tokens,
                               context_tokens, draft_steps, prefill_pairs)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "inflation_one": self.online.inflation_one}
