"""SLOs-Serve as a ReplicaScheduler: admission DP at re-plans, SLO-sized batches per step.

This adapter holds one replica's queues; the decisions come from the pure
core (tiers.py, admission.py). The simulator calls it directly and the vLLM
plugin drives the same object from inside vLLM.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from slobench.core.deadlines import token_deadline
from slobench.core.request import SchedRequest
from slobench.sched.interface import (
    RepeatCheck,
    ReplicaScheduler,
    SchedContext,
    StepPlan,
    Verdict,
    register_policy,
)
from slobench.sched.kv_blocks import BLOCK_SIZE
from slobench.sched.slos.admission import AdmissionItem, admit, admit_greedy_all
from slobench.sched.slos.kv_peak import admitted_peak_kv
from slobench.sched.slos.speculative import verified_tokens
from slobench.sched.slos.steady import steady_check
from slobench.sched.slos.tiers import TierPlanner
from slobench.sched.slos.why import rejection_reason


@dataclass(frozen=True)
class SlosConfig:
    """Knobs of SLOs-Serve; defaults follow the paper where it gives them (and suit the
    simulator; `for_real_engine` gives the settings for a real engine)."""

    replan_arrivals: int = 10        # re-plan when more than this many arrived ...
    replan_finishes: int = 6         # ... or more than this many finished ...
    replan_interval_s: float = 0.1   # ... or this much time passed
    best_effort: bool = True         # keep DP-rejected requests as best-effort on the last try
    margin: float = 1.0              # plan steps at this share of the tightest TPOT
    alpha: float = 0.0               # speculative acceptance rate (0: no speculation)
    max_draft: int = 1
    max_candidates: int = 64         # new requests one DP considers (EDF-first)
    kv_reserve_frac: float = 0.98    # share of KV blocks admission may reserve
    kv_peak_model: bool = True       # admit against the admitted set's future KV peak
    idle_step_s: float = 0.2         # longest prefill-only step when nothing decodes
    max_step_tokens: int = 8192      # cap on one step's tokens
    slack_tiers: bool = True         # plan decodes ahead of schedule in a looser tier
    # How far a step may stretch past the planned step into decode slack (a multiple).
    # Unbounded in the simulator, whose step times are exact; a real engine's are not.
    max_stretch: float = float("inf")
    # A decode waits for a later step only if its deadline is more than this many
    # planned steps beyond the next one: 0 in the simulator (exact step times); a real
    # engine's steps overrun now and then, and a deferred decode has no slack left.
    decode_guard_steps: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.margin <= 1:
            raise ValueError(f"margin must be in (0, 1], got {self.margin}")
        if self.replan_interval_s <= 0:
            raise ValueError("replan_interval_s must be > 0")
        if self.max_candidates < 1:
            raise ValueError("max_candidates must be >= 1")
        if self.decode_guard_steps < 0:
            raise ValueError(f"decode_guard_steps must be >= 0, got {self.decode_guard_steps}")
        if self.max_stretch < 1:
            raise ValueError(f"max_stretch must be >= 1, got {self.max_stretch}")

    @classmethod
    def for_real_engine(cls, **overrides: Any) -> SlosConfig:
        """Settings for a real engine, whose step times are measured, not exact: steps
        do not stretch into decode slack, decodes keep a step of guard, and steps are
        planned at 80% of the tightest TPOT (the plugin also corrects the step-time
        line online)."""
        return cls(**{"margin": 0.8, "max_stretch": 1.0, "decode_guard_steps": 1.0,
                      **overrides})


@register_policy("slos")
class SlosPolicy(ReplicaScheduler):
    def __init__(self, ctx: SchedContext) -> None:
        super().__init__(ctx)
        self.cfg = ctx.options.get("slos") or SlosConfig()
        self.kv_cap_tokens = int(ctx.kv.total_blocks * BLOCK_SIZE * self.cfg.kv_reserve_frac)
        self._speculating = self.cfg.alpha > 0 and self.cfg.max_draft > 1
        # The fastest a request's KV can grow: one token per shortest possible step.
        self._fastest_step_s = ctx.perf.decode_step_time(1, 1)
        self.pending: list[SchedRequest] = []
        self.admitted: list[SchedRequest] = []
        self.refresh_models()                # the planners
        self.best_effort: list[SchedRequest] = []
        self.kv_reserved = 0
        self.arrivals = 0
        self.finishes = 0
        self.last_replan = float("-inf")
        self.admission_stats = {"admitted": 0, "rejected": 0, "best_effort": 0}

    def _planner(self, perf: Any) -> TierPlanner:
        return TierPlanner(perf, self.ctx.tpot_tiers_s, self.cfg.margin, self.cfg.alpha,
                           self.cfg.max_draft, idle_step_s=self.cfg.idle_step_s)

    def set_tiers(self, tiers_s: tuple[float, ...]) -> None:
        """The TPOT tiers changed (an adapter saw a new SLO): re-plan with them."""
        self.ctx.tpot_tiers_s = tiers_s
        self.refresh_models()

    def refresh_models(self) -> None:
        """Rebuild the planner from ctx.perf (refitted, or new tiers); decodes' cached
        deadlines drop with it."""
        self.planner = self._planner(self.ctx.perf)
        for r in self.admitted:
            r.sched_state.pop("due", None)

    # -- admission ----------------------------------------------------------
    def add_request(self, req: SchedRequest, now: float, last_try: bool) -> Verdict:
        req.sched_state["last_try"] = last_try
        if not req.has_slo:
            req.sched_state["why"] = "no_slo"
            return self._make_best_effort(req)
        self.pending.append(req)
        self.arrivals += 1
        return Verdict.PENDING

    def _make_best_effort(self, req: SchedRequest) -> Verdict:
        req.best_effort = True
        self.best_effort.append(req)
        self.admission_stats["best_effort"] += 1
        return Verdict.BEST_EFFORT

    def _replan_due(self, now: float) -> bool:
        if not self.pending:
            return False
        if not any(r.generated for r in self.admitted):
            return True  # nothing decoding: deciding now costs no TPOT
        return (self.arrivals > self.cfg.replan_arrivals
                or self.finishes > self.cfg.replan_finishes
                or now - self.last_replan >= self.cfg.replan_interval_s
                or self._pending_would_expire(now))

    def _pending_would_expire(self, now: float) -> bool:
        """Beyond the paper's triggers: a pending request whose TTFT deadline would pass
        before the time trigger fires is decided now (tight TTFT SLOs, e.g. reasoning)."""
        urgent_before = self.last_replan + self.cfg.replan_interval_s + self.planner.tiers_s[-1]
        return min(r.ttft_deadline_s for r in self.pending) < urgent_before

    def next_wakeup(self, now: float) -> float | None:
        return self.last_replan + self.cfg.replan_interval_s if self.pending else None

    def _reservation(self, req: SchedRequest) -> int:
        return req.prompt_tokens + max(req.expected_output, req.generated + 1)

    def _replan(self, now: float, plan: StepPlan) -> None:
        self.arrivals = self.finishes = 0
        self.last_replan = now
        planner = self.planner
        counts = [0] * len(planner.tiers_s)
        items: list[AdmissionItem] = []
        for r in self.admitted:
            tier = planner.tier_of(r.current_tpot_s)
            if r.generated and r.tokens_needed <= 1:
                counts[self._slack_tier(r, tier, now)] += 1
            else:
                items.append(AdmissionItem(r.rid, r.ttft_deadline_s, r.tokens_needed, 0,
                                           tier, forced=True))
        self.pending.sort(key=lambda r: r.ttft_deadline_s)
        candidates = self.pending[: self.cfg.max_candidates]
        self.pending = self.pending[self.cfg.max_candidates:]
        by_key: dict[int, SchedRequest] = {}
        for r in candidates:
            by_key[r.rid] = r
            items.append(AdmissionItem(r.rid, r.ttft_deadline_s, r.tokens_needed,
                                       self._reservation(r), planner.tier_of(r.current_tpot_s),
                                       forced=False))
        kv_free = self.kv_cap_tokens - self._admitted_kv_peak(now)
        base = tuple(counts)
        rate_of = self._prefill_rate
        tightest_step = self._first_step_s(now, items, planner.tiers_s[0] * self.cfg.margin)

        def step_of(counts: tuple[int, ...]) -> float:
            # First tokens come at step ends: steps run at the tightest tier's pace while
            # anything decodes; with nothing decoding they are cut to promised deadlines.
            return tightest_step if any(counts) else 0.0

        if admit_greedy_all(items, base, now, kv_free, rate_of, step_of):
            chosen = set(by_key)
        else:
            chosen = set(admit(items, base, now, kv_free, rate_of, step_of).admitted)
        forced = [it for it in items if it.forced]
        for item in items:
            r = by_key.get(item.key) if not item.forced else None
            if r is not None and r.rid not in chosen:
                r.sched_state["why"] = rejection_reason(
                    item, forced, base, now, kv_free, rate_of, step_of,
                    r.sched_state.get("unguarded_deadline_s"))
        for r in candidates:
            if r.rid in chosen:
                self.admitted.append(r)
                self.kv_reserved += self._reservation(r)
                r.sched_state["reserved"] = self._reservation(r)
                self.admission_stats["admitted"] += 1
            elif self.cfg.best_effort and r.sched_state.get("last_try", True):
                self._make_best_effort(r)
            else:
                r.rejected = True
                plan.rejected.append(r)
                self.admission_stats["rejected"] += 1
        plan.replanned = True

    def _first_step_s(self, now: float, items: list[AdmissionItem], full_s: float) -> float:
        """How long the steps of the admission plan are. A full step at the tightest tier's
        pace, unless every prefill waiting (admitted and candidate) fits in one step beside
        all the decodes and that step ends before the earliest of their deadlines: then
        the step planner serves them all in it and ends it by the first deadline
        (`_end_by_first_ttft`), so each first token comes within that one short step. A
        light load's short prompts are not turned away for a full step they never wait."""
        if not items:
            return full_s
        decoding = [r for r in self.admitted if r.generated]
        n = len(decoding)
        queued = sum(it.prefill_tokens for it in items)
        context = sum(r.num_computed + 1 for r in decoding)
        short = self.ctx.perf.batch_time(n + queued, n, context, 0)
        # A prefill already late cuts no step (it cannot make it any more).
        earliest = min((it.deadline_s for it in items if it.deadline_s > now), default=now)
        return short if short <= full_s and now + short <= earliest else full_s

    def _admitted_kv_peak(self, now: float) -> float:
        if not self.cfg.kv_peak_model:
            return float(self.kv_reserved)
        return admitted_peak_kv(self.admitted, now, self._fastest_step_s)

    def _slack_tier(self, r: SchedRequest, tier: int, now: float) -> int:
        """A decode ahead of its schedule may sit in a looser tier for now (SPEC §7):
        the loosest tier whose TPOT its slack to the next deadline already covers."""
        if not self.cfg.slack_tiers:
            return tier
        n = r.generated + 1
        cache = r.sched_state.get("due")
        if cache is None or n >= cache[3]:
            cache = self._due_cache(r, n)
        slack = cache[0] + n * cache[1] - now
        tiers = self.planner.tiers_s
        while tier + 1 < len(tiers) and tiers[tier + 1] <= slack:
            tier += 1
        return tier

    def _prefill_rate(self, counts: tuple[int, ...]) -> float:
        return self.planner.plan(counts).prefill_rate

    # -- per-step batch -----------------------------------------------------
    def schedule(self, now: float) -> StepPlan:
        plan = StepPlan(items=[])
        if self._replan_due(now):
            self._replan(now, plan)
        planner = self.planner
        counts = [0] * len(planner.tiers_s)
        decoding: list[tuple[float, SchedRequest]] = []
        prefilling: list[SchedRequest] = []
        for r in self.admitted:
            n = r.generated + 1
            if n > 1 and r.num_computed == r.prompt_tokens + n - 2:
                if n > r.expected_output:
                    self._extend_prediction(r)
                cache = r.sched_state.get("due")
                if cache is None or n >= cache[3]:
                    cache = self._due_cache(r, n)
                counts[cache[2]] += 1
                decoding.append((cache[0] + n * cache[1], r))
            else:
                prefilling.append(r)
        tier_plan = planner.plan(tuple(counts))
        limit = tier_plan.step_s
        decoding.sort(key=itemgetter(0))
        if decoding:
            # Stretch the step up to the most urgent decode's slack: a request whose
            # first token came early (its deadlines start at arrival + TTFT SLO) or that
            # is ahead of schedule leaves room for a bigger prefill chunk.
            limit = max(limit, min(decoding[0][0] - now, limit * self.cfg.max_stretch))
        # Decodes that could not wait for the next step are due now; the rest are ahead
        # of schedule and only take leftover budget (a looser tier, for now).
        horizon = now + limit + (1.0 + self.cfg.decode_guard_steps) * tier_plan.step_s
        due_now = [r for d, r in decoding if d < horizon]
        later = [r for d, r in decoding if d >= horizon]
        prefilling.sort(key=lambda r: r.ttft_deadline_s)
        context = self._decode_context(due_now)
        limit = self._end_by_first_ttft(now, limit, due_now, context, prefilling)
        items, kv = plan.items, self.ctx.kv
        if self._speculating and due_now:
            # Each due decode verifies its tier's draft length this step (SPEC §7).
            verify = [verified_tokens(tier_plan.draft_len[r.sched_state["due"][2]] - 1,
                                      r.output_tokens - r.generated) for r in due_now]
            n_decode, drafts = sum(verify), max(verify) - 1
        else:
            verify, n_decode, drafts = [], len(due_now), 0
        # Due decodes are always served, even when the limit leaves no room for them.
        budget = max(n_decode, min(self.cfg.max_step_tokens, self.ctx.perf.max_batch_tokens(
            limit, n_decode, context, drafts)))
        if verify:
            for r, n in zip(due_now, verify, strict=True):
                if self._allocate(r, n):
                    items.append((r, n))
                    budget -= n
        else:
            budget = _fill(items, due_now, budget, self._allocate)
        budget = _fill(items, prefilling, budget, self._allocate)
        # Leftover budget: decodes ahead of schedule, then best-effort work (which never
        # preempts anybody for KV).
        budget = _fill(items, later, budget, kv.allocate)
        _fill(items, self.best_effort, budget, kv.allocate)
        return plan

    def steady_decode(self, plan: StepPlan, now: float) -> RepeatCheck | None:
        return steady_check(self, plan, now)

    def _end_by_first_ttft(self, now: float, limit: float, due: list[SchedRequest],
                           context: int, prefilling: list[SchedRequest]) -> float:
        """Shorten the step so that every admitted prefill that can finish in it gets its
        first token by its TTFT deadline (the admission plan promised those); one that
        cannot make it any more does not shrink everybody's steps."""
        perf = self.ctx.perf
        tokens = len(due)
        for r in prefilling:  # EDF order
            tokens += r.tokens_needed
            need = perf.batch_time(tokens, len(due), context, 0)
            if need > limit:
                break  # this one and later ones finish in later steps
            room = r.ttft_deadline_s - now
            if need <= room < limit:
                limit = room
        return limit

    def _due_cache(self, r: SchedRequest, n: int) -> tuple[float, float, int, int]:
        """(base, tpot, tier, valid until token) with next-token deadline = base + n * tpot,
        cached per output phase: the per-step call stays cheap with hundreds of decodes."""
        # Valid until the next phase starts (reasoning: thinking -> response).
        until = min((f for f, _ in r.phase_tpots if f > n), default=1 << 62)
        tpot = r.tpot_for_token(n)
        cache = (token_deadline(r, n) - n * tpot, tpot, self.planner.tier_of(tpot), until)
        r.sched_state["due"] = cache
        return cache

    @staticmethod
    def _decode_context(reqs: list[SchedRequest]) -> int:
        return sum(r.num_computed + 1 for r in reqs)

    def _allocate(self, req: SchedRequest, n: int) -> bool:
        """KV for an admitted request, preempting best-effort requests (newest first)."""
        kv = self.ctx.kv
        while not kv.allocate(req, n):
            victim = next((b for b in reversed(self.best_effort) if kv.held(b)), None)
            if victim is None:
                return False
            kv.free(victim)
            victim.num_computed = 0
            victim.num_preemptions += 1
        return True

    def _extend_prediction(self, req: SchedRequest) -> None:
        """Unknown lengths: a request past its predicted length gets a longer prediction."""
        if req.generated >= req.expected_output:
            old = self._reservation(req)
            req.expected_output = max(2 * req.expected_output, req.generated + 1)
            self.kv_reserved += self._reservation(req) - old
            req.sched_state["reserved"] = self._reservation(req)
            self.finishes += 1  # counts toward a re-plan: the plan's KV view changed

    def on_finished(self, req: SchedRequest) -> None:
        if req.best_effort:
            self.best_effort.remove(req)
        else:
            self.admitted.remove(req)
            self.kv_reserved -= req.sched_state.get("reserved", 0)
            self.finishes += 1

    def queue_lengths(self) -> tuple[int, int]:
        decoding = sum(1 for r in self.admitted if r.generated)
        waiting = len(self.pending) + len(self.admitted) - decoding + len(self.best_effort)
        return waiting, decoding


def _fill(items: list[tuple[SchedRequest, int]], reqs: list[SchedRequest], budget: int,
          allocate: Callable[[SchedRequest, int], bool]) -> int:
    """Give each request, in order, as many of its needed tokens as the budget leaves."""
    for r in reqs:
        if budget <= 0:
            break
        n = r.prompt_tokens + r.generated - r.num_computed  # tokens_needed, inlined (hot)
        if n > budget:
            n = budget
        if allocate(r, n):
            items.append((r, n))
            budget -= n
    return budget
