"""SLOs-Serve as a ReplicaScheduler: admission DP at re-plans, SLO-sized batches per step.

This adapter holds one replica's queues (pending, admitted, best-effort) and answers
the interface's hooks; the decisions come from the pure core: re-plans and admission
in replan.py (over tiers.py and admission.py), the per-step batch here. The simulator
calls it directly and the vLLM plugin drives the same object from inside vLLM.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Callable, Iterator
from operator import itemgetter

from slobench.core.deadlines import token_deadline
from slobench.core.request import SchedRequest
from slobench.perf.model import PerfModel
from slobench.sched.interface import (
    RepeatCheck,
    ReplicaScheduler,
    SchedContext,
    ServingOrder,
    StepPlan,
    Verdict,
    register_policy,
)
from slobench.sched.kv_blocks import BLOCK_SIZE, BlockPool
from slobench.sched.slos.config import SlosConfig
from slobench.sched.slos.cut_steps import cut_at_first_deadline
from slobench.sched.slos.forwarding import OfferDelays
from slobench.sched.slos.replan import replan, replan_due, reservation
from slobench.sched.slos.speculative import verified_tokens
from slobench.sched.slos.steady import steady_check
from slobench.sched.slos.tiers import DEFAULT_DECODE_CONTEXT, TierPlanner

__all__ = ["SlosConfig", "SlosPolicy"]     # SlosConfig: its home is config.py

log = logging.getLogger(__name__)
_deadline = itemgetter(0)           # of a (next-token deadline, decode) pair


@register_policy("slos")
class SlosPolicy(ReplicaScheduler):
    def __init__(self, ctx: SchedContext) -> None:
        super().__init__(ctx)
        self.cfg: SlosConfig = ctx.options.get("slos") or SlosConfig()
        self.kv_cap_tokens = int(ctx.kv.total_blocks * BLOCK_SIZE * self.cfg.kv_reserve_frac)
        self._speculating = self.cfg.alpha > 0 and self.cfg.max_draft > 1
        # The fastest a request's KV can grow: one token per shortest possible step
        # (of the model it starts with: set_perf keeps it).
        self.fastest_step_s = ctx.perf.decode_step_time(1, 1)
        self.pending: list[SchedRequest] = []
        self.admitted: list[SchedRequest] = []
        self.decode_context = DEFAULT_DECODE_CONTEXT    # tokens a decode attends to, planned
        self.rebuild_planner()
        self.best_effort: list[SchedRequest] = []
        self.kv_reserved = 0
        self.arrivals = 0
        self.finishes = 0
        self.last_replan = float("-inf")
        self.admission_stats = {"admitted": 0, "rejected": 0, "best_effort": 0}
        self.offer_delays = OfferDelays()

    # -- what the workload and the engine tell it --------------------------------------
    def set_tiers(self, tiers_s: tuple[float, ...]) -> None:
        """The TPOT tiers changed (an adapter saw a new SLO): re-plan with them."""
        super().set_tiers(tiers_s)
        log.debug("TPOT tiers now %s", tiers_s)
        self.rebuild_planner()

    def set_perf(self, perf: PerfModel) -> None:
        """The step-time model was refitted (or replaced): rebuild the planner."""
        super().set_perf(perf)
        self.rebuild_planner()

    def rebuild_planner(self) -> None:
        """The planner from ctx.perf and ctx.tpot_tiers_s, and one on the central estimate
        (its plans keep that estimate until the next rebuild); decodes' tiers drop."""
        cfg = self.cfg
        self.planner = TierPlanner(self.ctx.perf, self.ctx.tpot_tiers_s, cfg.margin, cfg.alpha,
                                   cfg.max_draft, self.decode_context,
                                   idle_step_s=cfg.idle_step_s,
                                   every_step=cfg.decode_every_step)
        self.central_planner = self.planner.with_perf(self.ctx.perf.central_model())
        for r in self.admitted:
            r.sched_state.pop("due", None)

    # -- admission ---------------------------------------------------------------------
    def add_request(self, req: SchedRequest, now: float, last_try: bool) -> Verdict:
        req.sched_state["last_try"] = last_try
        if self.cfg.keep_late_forwards and req.has_slo:
            self.offer_delays.observe(now - req.arrival_s, last_try)
        if not req.has_slo:
            req.sched_state["why"] = "no_slo"
            return self.make_best_effort(req)
        self.pending.append(req)
        self.arrivals += 1
        return Verdict.PENDING

    def make_best_effort(self, req: SchedRequest) -> Verdict:
        req.best_effort = True
        self.best_effort.append(req)
        self.admission_stats["best_effort"] += 1
        return Verdict.BEST_EFFORT

    def next_wakeup(self, now: float) -> float | None:
        return self.last_replan + self.cfg.replan_interval_s if self.pending else None

    # -- per-step batch ----------------------------------------------------------------
    def schedule(self, now: float) -> StepPlan:
        plan = StepPlan(items=[])
        if replan_due(self, now):
            replan(self, now, plan)
        counts, decoding, prefilling = self._split_admitted()
        tier_plan = self.planner.plan(tuple(counts))
        limit = tier_plan.step_s
        decoding.sort(key=_deadline)
        if decoding:
            # Stretch the step up to the most urgent decode's slack: a request whose
            # first token came early (its deadlines start at arrival + TTFT SLO) or that
            # is ahead of schedule leaves room for a bigger prefill chunk.
            limit = max(limit, min(decoding[0][0] - now, limit * self.cfg.max_stretch))
        # Decodes that could not wait for the next step are due now; the rest are ahead
        # of schedule and only take leftover budget (a looser tier, for now). Sorted by
        # deadline, the due ones come first.
        horizon = (float("inf") if self.cfg.decode_every_step
                   else now + limit + (1.0 + self.cfg.decode_guard_steps) * tier_plan.step_s)
        cut = bisect_left(decoding, horizon, key=_deadline)
        due_now = [r for _, r in decoding[:cut]]
        later = [r for _, r in decoding[cut:]]
        prefilling.sort(key=_ttft_deadline)
        context = self._decode_context(due_now)
        cut_limit = self._end_by_first_ttft(now, limit, due_now, context, prefilling)
        # A step cut at a first token's deadline is sized as that one step was timed.
        perf = self.ctx.perf.one_step_model() if cut_limit < limit else self.ctx.perf
        limit, items, kv = cut_limit, plan.items, self.ctx.kv
        # The earlier tokens the step's first prefill chunk attends to (a model with a
        # prefill-attention term times the chunk on them, not on the decodes' contexts).
        chunk_context = prefilling[0].num_computed if prefilling else None
        budget = self._serve_due(items, due_now, tier_plan.draft_len, limit, context,
                                 chunk_context, perf)
        budget = _fill(items, prefilling, budget, self._allocate, kv, preempts=True)
        # Leftover budget: decodes ahead of schedule, then best-effort work (which never
        # preempts anybody for KV).
        budget = _fill(items, later, budget, kv.allocate, kv, preempts=False)
        _fill(items, self.best_effort, budget, kv.allocate, kv, preempts=False)
        return plan

    def _split_admitted(self) -> tuple[list[int], list[tuple[float, SchedRequest]],
                                       list[SchedRequest]]:
        """(decodes per tier, (next-token deadline, decode) pairs, prefills) of the
        admitted requests."""
        counts = [0] * len(self.planner.tiers_s)
        decoding: list[tuple[float, SchedRequest]] = []
        prefilling: list[SchedRequest] = []
        add_decode, add_prefill, due_cache = decoding.append, prefilling.append, self.due_cache
        for r in self.admitted:
            n = r.generated + 1
            if n > 1 and r.num_computed == r.prompt_tokens + n - 2:
                if n > r.expected_output:
                    self._extend_prediction(r)
                cache = r.sched_state.get("due")
                if cache is None or n >= cache[3]:
                    cache = due_cache(r, n)
                counts[cache[2]] += 1
                add_decode((cache[0] + n * cache[1], r))
            else:
                add_prefill(r)
        return counts, decoding, prefilling

    def _serve_due(self, items: list[tuple[SchedRequest, int]], due_now: list[SchedRequest],
                   draft_len: tuple[int, ...], limit: float, context: int,
                   chunk_context: int | None = None, perf: PerfModel | None = None) -> int:
        """Put the due decodes in the batch; returns the step's token budget left."""
        if self._speculating and due_now:
            # Each due decode verifies its tier's draft length this step (SPEC §7).
            verify = [verified_tokens(draft_len[r.sched_state["due"][2]] - 1,
                                      r.output_tokens - r.generated) for r in due_now]
            n_decode, drafts = sum(verify), max(verify) - 1
        else:
            verify, n_decode, drafts = [], len(due_now), 0
        # Due decodes are always served, even when the limit leaves no room for them.
        budget = max(n_decode, min(self.cfg.max_step_tokens, (perf or self.ctx.perf)
                                   .max_batch_tokens(limit, n_decode, context, drafts,
                                                     chunk_context)))
        if not verify:
            return _fill(items, due_now, budget, self._allocate, self.ctx.kv, preempts=True)
        for r, n in zip(due_now, verify, strict=True):
            if self._allocate(r, n):
                items.append((r, n))
                budget -= n
        return budget

    def steady_decode(self, plan: StepPlan, now: float) -> RepeatCheck | None:
        return steady_check(self, plan, now)

    def _end_by_first_ttft(self, now: float, limit: float, due: list[SchedRequest],
                           context: int, prefilling: list[SchedRequest]) -> float:
        """Shorten the step so that every admitted prefill that can finish in it gets its
        first token by its TTFT deadline (the admission plan promised those); one that
        cannot make it any more does not shrink everybody's steps. Timed as one step
        (`PerfModel.one_step_model`), as admission's cut steps (`cut_steps.py`)."""
        perf = self.ctx.perf.one_step_model()
        chunk_context = prefilling[0].num_computed if prefilling else 0

        def needs_and_rooms() -> Iterator[tuple[float, float]]:
            tokens = len(due)
            for r in prefilling:  # EDF order
                tokens += r.tokens_needed
                yield (perf.batch_time(tokens, len(due), context, 0, chunk_context),
                       r.ttft_deadline_s - now)

        return cut_at_first_deadline(limit, needs_and_rooms())

    def due_cache(self, r: SchedRequest, n: int) -> tuple[float, float, int, int]:
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
            old = reservation(req)
            req.expected_output = max(2 * req.expected_output, req.generated + 1)
            self.kv_reserved += reservation(req) - old
            req.sched_state["reserved"] = reservation(req)
            self.finishes += 1  # counts toward a re-plan: the plan's KV view changed

    def on_finished(self, req: SchedRequest) -> None:
        if req.best_effort:
            self.best_effort.remove(req)
        else:
            self.admitted.remove(req)
            self.kv_reserved -= req.sched_state.get("reserved", 0)
            self.finishes += 1

    def on_aborted(self, req: SchedRequest) -> None:
        # A pending request leaves no trace (no re-plan trigger); a served one counts as
        # a finish (its KV reservation returns); a rejected one is held by nobody.
        if req in self.pending:
            self.pending.remove(req)
        elif req in self.admitted or req in self.best_effort:
            self.on_finished(req)

    def serving_order(self) -> ServingOrder:
        # Admitted requests by TTFT deadline (EDF), best-effort ones last, in their order.
        order: ServingOrder = [(r, (1, r.ttft_deadline_s)) for r in self.admitted]
        order.extend((r, (2, k)) for k, r in enumerate(self.best_effort))
        return order

    def queue_lengths(self) -> tuple[int, int]:
        decoding = sum(1 for r in self.admitted if r.generated)
        waiting = len(self.pending) + len(self.admitted) - decoding + len(self.best_effort)
        return waiting, decoding


def _ttft_deadline(r: SchedRequest) -> float:
    return r.ttft_deadline_s


def _fill(items: list[tuple[SchedRequest, int]], reqs: list[SchedRequest], budget: int,
          allocate: Callable[[SchedRequest, int], bool], kv: BlockPool, preempts: bool) -> int:
    """Give each request, in order, as many of its needed tokens as the budget leaves.
    A request whose blocks in `kv` hold them needs no allocate call; nor, when `allocate`
    `preempts` nobody, one needing a block while `kv` has none (it would say no)."""
    held, add, block = kv.blocks.get, items.append, BLOCK_SIZE
    for r in reqs:
        if budget <= 0:
            break
        computed = r.num_computed
        n = r.prompt_tokens + r.generated - computed  # tokens_needed, inlined (hot)
        if n > budget:
            n = budget
        if (computed + n <= held(r.rid, 0) * block
                or ((preempts or kv.free_blocks) and allocate(r, n))):
            add((r, n))
            budget -= n
    return budget
