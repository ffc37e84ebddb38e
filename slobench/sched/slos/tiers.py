"""Batch planning for a mix of TPOT tiers (SPEC §7).

Given how many decoding requests sit in each TPOT tier, pick the step time
and the per-step token budget (from the inverted performance model) that
keep every tier on its per-token deadline, and report what is left for
prefill. A request in tier i needs step_s / tpot_i tokens per step on
average: looser tiers skip steps, which is where multi-SLO serving gains.

With speculation (alpha > 0), an anchor tier j and draft length s set the
step time step_s = tpot_j * E(s); every tier then takes the shortest draft
length that keeps it on schedule, and the (anchor, s) pair leaving the most
prefill tokens per second wins. Without speculation the step time is the
tightest present tier's TPOT times a safety margin.
"""

from __future__ import annotations

from dataclasses import dataclass

from slobench.perf.model import PerfModel
from slobench.sched.slos.speculative import expected_tokens, shortest_draft

DEFAULT_DECODE_CONTEXT = 1024     # tokens a decode is planned to attend to


@dataclass(frozen=True, slots=True)
class TierPlan:
    step_s: float
    budget_tokens: int                 # all tokens of one step (decode + prefill)
    draft_len: tuple[int, ...]         # tokens verified per step, per tier (1 = no speculation)
    decode_tokens: float               # average decode tokens per step
    prefill_tokens: float              # budget_tokens - decode_tokens (may be < 0: infeasible)

    @property
    def prefill_rate(self) -> float:
        """Prefill tokens per second this plan sustains."""
        return self.prefill_tokens / self.step_s


class TierPlanner:
    def __init__(self, perf: PerfModel, tiers_s: tuple[float, ...], margin: float = 0.9,
                 alpha: float = 0.0, max_draft: int = 1,
                 mean_context: int = DEFAULT_DECODE_CONTEXT,
                 idle_step_s: float = 0.0, every_step: bool = False) -> None:
        if not tiers_s:
            raise ValueError("at least one TPOT tier is needed")
        self.perf = perf
        self.tiers_s = tuple(sorted(tiers_s))
        self.margin = margin
        self.alpha = alpha
        self.max_draft = max_draft if alpha > 0 else 1
        self.mean_context = mean_context
        self.idle_step_s = idle_step_s
        self.every_step = every_step        # every decode takes a token in every step
        self._memo: dict[tuple[int, ...], TierPlan] = {}

    def with_perf(self, perf: PerfModel) -> TierPlanner:
        """The same planner on another step model (a central estimate beside the plan's)."""
        return TierPlanner(perf, self.tiers_s, self.margin, self.alpha, self.max_draft,
                           self.mean_context, self.idle_step_s, self.every_step)

    def tier_of(self, tpot_s: float) -> int:
        """Index of the tightest tier no looser than tpot_s."""
        for i, t in enumerate(self.tiers_s):
            if tpot_s <= t + 1e-12:
                return i
        return len(self.tiers_s) - 1

    def plan(self, counts: tuple[int, ...]) -> TierPlan:
        cached = self._memo.get(counts)
        if cached is None:
            cached = self._best_plan(counts)
            if len(self._memo) < 200_000:
                self._memo[counts] = cached
        return cached

    def _budget(self, step_s: float, decode_reqs: int, draft: int) -> int:
        # The prefill as fresh prompts' chunks (prefill_context 0): what the planner
        # knows before the step's chunks are chosen.
        return self.perf.max_batch_tokens(step_s, 0, decode_reqs * self.mean_context,
                                          draft - 1, 0)

    def _best_plan(self, counts: tuple[int, ...]) -> TierPlan:
        present = [i for i, c in enumerate(counts) if c > 0]
        n_decode = sum(counts)
        if not present:
            # Nothing decodes: no TPOT to protect; prefill in long steps.
            step = max(self.tiers_s[-1] * self.margin, self.idle_step_s)
            budget = self._budget(step, 0, 1)
            return TierPlan(step, budget, (1,) * len(counts), 0.0, float(budget))
        best: TierPlan | None = None
        for anchor in present:
            for s in range(1, self.max_draft + 1):
                step = self.tiers_s[anchor] * self.margin * expected_tokens(self.alpha, s)
                drafts = []
                decode = 0.0
                for i, c in enumerate(counts):
                    need = step / (self.tiers_s[i] * self.margin)
                    d = shortest_draft(self.alpha, need, self.max_draft) if c else 1
                    if d is None:
                        break
                    drafts.append(d)
                    # A tier that needs < 1 token per step is served every few steps
                    # (unless every decode is served in every step).
                    decode += c * (d if need >= 1 or self.every_step else need)
                else:
                    budget = self._budget(step, n_decode, max(drafts))
                    plan = TierPlan(step, budget, tuple(drafts), decode, budget - decode)
                    if best is None or plan.prefill_rate > best.prefill_rate:
                        best = plan
        assert best is not None  # s = 1 on the tightest tier always yields a plan
        return best
