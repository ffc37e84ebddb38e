"""When SLOs-Serve's pure-decode batch repeats (the simulator's decode fast-forward).

`SlosPolicy.schedule` picks the same batch again, step after step, while: no re-plan
falls due (no pending request, or its triggers stay off until the re-plan timer), no
decode enters a new output phase or outgrows its predicted length, and the step's
token budget still covers every decode, which depends on which decodes are due now
(their deadlines move with each token, the step start with each step). The check below
redoes that budget arithmetic with the same float operations, after a cheap bound that
settles the common case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slobench.sched.interface import RepeatCheck, StepPlan
from slobench.sched.slos.replan import pending_would_expire

if TYPE_CHECKING:
    from slobench.sched.slos.policy import SlosPolicy


def steady_check(policy: SlosPolicy, plan: StepPlan, now: float) -> RepeatCheck | None:
    cfg = policy.cfg
    admitted = policy.admitted
    total = len(admitted) + len(policy.best_effort)
    if policy._speculating or len(plan.items) != total:
        return None
    pending = bool(policy.pending)
    if not admitted:
        return _best_effort_alone(pending)
    if pending and (policy.arrivals > cfg.replan_arrivals
                    or policy.finishes > cfg.replan_finishes
                    or pending_would_expire(policy, now)):
        return None
    counts = [0] * len(policy.planner.tiers_s)
    caches = []
    last = 1 << 62
    for r in admitted:
        cache = r.sched_state["due"]
        counts[cache[2]] += 1
        caches.append(cache)
        # Step j schedules token n = generated + 1 + j: it must stay within the
        # prediction (else it is extended) and the cached phase (else recomputed).
        g = r.generated
        last = min(last, r.expected_output - g - 1, cache[3] - g - 2)
    step_s = policy.planner.plan(tuple(counts)).step_s
    # (base, tpot, token n at step 0, context at step 0) per decode, for the budget
    # arithmetic of schedule() in its own float operations. Plain lists: the batches
    # that repeat longest are small, where numpy's per-call cost dominates.
    rows = [(c[0], c[1], r.generated + 1, r.num_computed + 1)
            for c, r in zip(caches, admitted, strict=True)]
    guard = float("inf") if cfg.decode_every_step else (1.0 + cfg.decode_guard_steps) * step_s
    stretch = step_s * cfg.max_stretch
    perf, max_step, last_replan = policy.ctx.perf, cfg.max_step_tokens, policy.last_replan

    ctx_all, n_adm = sum(row[3] for row in rows), len(rows)
    covers = max_step >= total
    # A model without a context term answers the bound below the same at every step.
    bound_holds = (perf.step_time(total, total, 0) <= step_s) if perf.context_free else None

    def check(t: float, j: int) -> bool:
        if j > last or (pending and t - last_replan >= cfg.replan_interval_s):
            return False
        # The budget covers every decode if a step of them all, timed with every decode
        # due, fits in the planned step: step time is non-decreasing in each argument,
        # the limit never below the planned step. Else the exact arithmetic.
        if covers and (bound_holds if bound_holds is not None else
                       perf.step_time(total, total, ctx_all + n_adm * j + total) <= step_s):
            return True
        deadlines = [base + (n + j) * tpot for base, tpot, n, _ in rows]
        limit = max(step_s, min(min(deadlines) - t, stretch))
        horizon = t + limit + guard
        n_due = context = 0
        for d, row in zip(deadlines, rows, strict=True):
            if d < horizon:
                n_due += 1
                context += row[3]
        context += n_due * j
        budget = max(n_due, min(max_step, perf.max_batch_tokens(limit, n_due, context, 0)))
        return budget >= total

    return check


def _best_effort_alone(pending: bool) -> RepeatCheck | None:
    """Best-effort work alone: the step is the idle plan's (no decode or prefill of an
    admitted request moves its limit), its budget the same every step, and it covered
    them all; a pending request would be decided at once."""
    return None if pending else _always


def _always(t: float, j: int) -> bool:
    return True
