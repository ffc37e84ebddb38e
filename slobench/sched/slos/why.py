"""Why admission turned a request away (the admission audit, SPEC §10).

Called only for the candidates a re-plan did not admit, with the same inputs the DP had:

- `expired`: its TTFT deadline had passed when the re-plan decided;
- `guard`: infeasible against the guarded deadline, feasible against the client's own
  (the real-engine guard, `guards.SloGuard`, turned it away);
- `kv`: its KV reservation does not fit in what the admitted requests leave;
- `ttft`: even on an idle replica its prefill cannot finish by its deadline under the
  planning model (the SLO is below what the model says this engine can do);
- `busy`: feasible on an idle replica, not beside the work already admitted;
- `contention`: feasible beside the admitted work alone, but the DP admitted others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from slobench.sched.slos.admission import (
    AdmissionItem,
    PrefillRate,
    StepClock,
    admit_greedy_all,
    first_token_times,
)

REASONS = ("expired", "guard", "kv", "ttft", "busy", "contention")


def rejection_reason(item: AdmissionItem, forced: Sequence[AdmissionItem],
                     base_counts: tuple[int, ...], now: float, kv_free_tokens: int,
                     rate_of: PrefillRate, clock: StepClock,
                     unguarded_deadline_s: float | None = None) -> str:
    def feasible(it: AdmissionItem, others: Sequence[AdmissionItem],
                 counts: tuple[int, ...]) -> bool:
        return admit_greedy_all([*others, it], counts, now, kv_free_tokens, rate_of, clock)

    def guard_blamed(others: Sequence[AdmissionItem], counts: tuple[int, ...]) -> bool:
        if unguarded_deadline_s is None or unguarded_deadline_s <= item.deadline_s:
            return False
        return feasible(replace(item, deadline_s=unguarded_deadline_s), others, counts)

    if item.deadline_s <= now:
        return "guard" if unguarded_deadline_s is not None and unguarded_deadline_s > now \
            else "expired"
    if item.kv_tokens > kv_free_tokens:
        return "kv"
    if feasible(item, forced, base_counts):
        return "contention"
    idle = tuple(0 for _ in base_counts)
    if not feasible(item, (), idle):
        return "guard" if guard_blamed((), idle) else "ttft"
    return "guard" if guard_blamed(forced, base_counts) else "busy"


def rejection_detail(item: AdmissionItem, forced: Sequence[AdmissionItem],
                     base_counts: tuple[int, ...], now: float, rate_of: PrefillRate,
                     clock: StepClock) -> dict[str, float]:
    """The numbers behind a rejection, in ms from the decision: the deadline it had, when
    the plan would have given its first token beside the admitted work alone, and the
    planned step length then."""
    done = first_token_times([*forced, item], base_counts, now, rate_of, clock)[item.key]
    return {"left_ms": round((item.deadline_s - now) * 1e3, 2),
            "planned_ms": round((done - now) * 1e3, 2),
            "step_ms": round(clock.step_s(base_counts) * 1e3, 2),
            "prefill_ahead": sum(it.prefill_tokens for it in forced),
            "decodes": sum(base_counts)}
