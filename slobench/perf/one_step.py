"""Views of the online step model at another of its inflations: one prefill step alone
(`OnlineStepModel.one_step_model`: what admission's first step and a step cut at a first
token's deadline are sized and timed on; one draw of a step's error, not the run of
chunks a long prompt waits for), and its central estimate (`central_model`: the median
of what prefill steps cost now against the profile, what a call on its last chance is
judged on)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slobench.perf.model import PerfModel

if TYPE_CHECKING:
    from slobench.perf.feedback import OnlineStepModel


class OneStepView(PerfModel):
    """The online model's prefill steps inflated by its attribute `inflation` (by default
    `inflation_one`: `one_step_quantile` of single steps' ratios, not the quantile of
    runs of steps that covers a prompt's many chunks)."""

    def __init__(self, online: OnlineStepModel, inflation: str = "inflation_one") -> None:
        self.online, self.inflation = online, inflation
        self.name = f"online-{inflation.removeprefix('inflation_')}"

    def step_time(self, prefill_tokens: int, decode_tokens: int, context_tokens: int,
                  draft_steps: int = 0) -> float:
        online = self.online
        if online.profile is None:
            return online.step_time(prefill_tokens, decode_tokens, context_tokens, draft_steps)
        return online.inflated(getattr(online, self.inflation), prefill_tokens,
                               decode_tokens, context_tokens, draft_steps,
                               prefill_tokens * context_tokens, chunks=False)

    def step_time_of_chunks(self, prefill_tokens: int, decode_tokens: int,
                            context_tokens: int, draft_steps: int, prefill_pairs: int) -> float:
        online = self.online
        if online.profile is None:
            return online.step_time_of_chunks(prefill_tokens, decode_tokens, context_tokens,
                                              draft_steps, prefill_pairs)
        return online.inflated(getattr(online, self.inflation), prefill_tokens,
                               decode_tokens, context_tokens, draft_steps, prefill_pairs)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, self.inflation: getattr(self.online, self.inflation)}
