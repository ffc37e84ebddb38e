"""Admission by dynamic programming (SPEC §7).

Requests waiting for prefill are taken in EDF order (TTFT deadline). The DP
state after a prefix is the number of admitted requests per TPOT tier; each
state keeps a Pareto set of (KV tokens reserved, time by which all admitted
prefills are done). Admitting request r advances time by r's prefill tokens
over the prefill rate the batch plan for the current counts leaves (the
decodes admitted before it), then moves to counts + e_tier(r); it is
feasible when that time is within r's deadline and its KV fits.
Already-admitted requests are forced in (never dropped); a candidate is not
admitted if it would push one past its deadline (or, for one already late,
past the finish it has without new admissions).
Within one counts key the number admitted is fixed, so a state with no more
KV and no later time dominates; dominated states are pruned.
The answer maximises the number of admitted candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

# counts per tier -> prefill tokens per second the batch plan leaves (<= 0: none)
PrefillRate = Callable[[tuple[int, ...]], float]

# A first token at a step cut at its own deadline comes at now + (deadline - now), which
# rounds a hair past the deadline: a plan is late only by more than this.
LATE_S = 1e-9


def late(done: float, deadline: float) -> bool:
    return done > deadline + LATE_S


_State = tuple[int, float, tuple | None]  # (kv tokens, time, admitted keys as a linked list)


class StepClock(Protocol):
    """How the plan's steps run, for when first tokens come (at step ends)."""

    def step_s(self, counts: tuple[int, ...]) -> float:
        """The planned step beside these decodes (0: no step grid, the fluid time)."""

    def first_token_s(self, item: AdmissionItem, counts: tuple[int, ...],
                      t_fluid: float) -> float:
        """When item's first token comes, its prefill work done at `t_fluid` by the
        fluid rate beside `counts` decodes: the end of the step that completes it."""

    def in_first_step(self, key: int) -> bool:
        """Whether the prefill `key` finishes in the plan's first step."""


@dataclass(frozen=True, slots=True)
class AdmissionItem:
    key: int                 # caller's handle
    deadline_s: float        # TTFT deadline
    prefill_tokens: int      # tokens left to prefill
    kv_tokens: int           # KV tokens to reserve (prompt + expected output)
    tier: int
    forced: bool             # already admitted: always in, never checked
    # Seconds the prompt's own attention adds beyond what the prefill rate counts (a
    # long prompt's later chunks attend to its earlier ones; 0: a model without it).
    attention_s: float = 0.0


@dataclass(frozen=True, slots=True)
class AdmissionResult:
    admitted: frozenset[int]          # keys of admitted candidates (forced ones excluded)
    finish_s: float                   # planned time all admitted prefills are done
    states_explored: int


class _Timeline:
    """The sequential prefill model: EDF order, each prefill at the rate the decodes
    admitted before it leave; with a step clock, a first token comes at the end of the
    planned step in which its prefill work completes."""

    def __init__(self, now: float, rate_of: PrefillRate, clock: StepClock | None) -> None:
        self.now = now
        self.rate_of = rate_of
        self.clock = clock

    def step(self, t: float, counts: tuple[int, ...],
             item: AdmissionItem) -> tuple[tuple[int, ...], float, float]:
        """(counts after, fluid time the prefill work is done, time its first token comes)."""
        # r's prefill runs beside the decodes admitted before it (EDF order: they are
        # prefilled first); r itself decodes only once its prefill is done.
        rate = self.rate_of(counts)
        new_counts = (*counts[: item.tier], counts[item.tier] + 1, *counts[item.tier + 1:])
        t_new = (t + item.prefill_tokens / rate + item.attention_s if rate > 0
                 else float("inf"))
        done = t_new if self.clock is None else self.clock.first_token_s(item, counts, t_new)
        return new_counts, t_new, done

    def forced_limits(self, order: Sequence[AdmissionItem],
                      base_counts: tuple[int, ...]) -> dict[int, float]:
        """Latest finish each admitted request may be pushed to: its deadline, or, if it
        is late already, the finish it has with no new request admitted."""
        t, counts, limits = self.now, base_counts, {}
        for item in order:
            if item.forced:
                counts, t, done = self.step(t, counts, item)
                limits[item.key] = max(item.deadline_s, done)
        return limits


def _in_edf_order(items: Sequence[AdmissionItem], base_counts: tuple[int, ...], now: float,
                  rate_of: PrefillRate, clock: StepClock | None
                  ) -> tuple[list[AdmissionItem], _Timeline, dict[int, float]]:
    """The items in EDF order, their timeline and the admitted ones' limits."""
    order = sorted(items, key=lambda it: it.deadline_s)
    timeline = _Timeline(now, rate_of, clock)
    return order, timeline, timeline.forced_limits(order, base_counts)


def admit(items: Sequence[AdmissionItem], base_counts: tuple[int, ...], now: float,
          kv_free_tokens: int, rate_of: PrefillRate,
          clock: StepClock | None = None) -> AdmissionResult:
    """The most candidates admissible together (ties: the earliest finish), by the DP."""
    order, timeline, limits = _in_edf_order(items, base_counts, now, rate_of, clock)
    states: dict[tuple[int, ...], list[_State]] = {base_counts: [(0, now, None)]}
    explored = 0
    for item in order:
        nxt: dict[tuple[int, ...], list[_State]] = {}
        limit = limits[item.key] if item.forced else item.deadline_s
        for counts, frontier in states.items():
            for kv, t, chosen in frontier:
                explored += 1
                if not item.forced:
                    nxt.setdefault(counts, []).append((kv, t, chosen))  # skip it
                new_counts, t_new, done = timeline.step(t, counts, item)
                kv_new = kv + item.kv_tokens
                # A new request may not make an admitted one late (forced items reach
                # their limit on the path that admits nothing, so one state survives).
                if late(done, limit) or (kv_new > kv_free_tokens and not item.forced):
                    continue
                link = (item.key, chosen) if not item.forced else chosen
                nxt.setdefault(new_counts, []).append((kv_new, t_new, link))
        states = {c: _pareto(f) for c, f in nxt.items()}
    best: _State | None = None
    best_n = -1
    for frontier in states.values():
        for state in frontier:
            n = _length(state[2])
            if n > best_n or (n == best_n and best is not None and state[1] < best[1]):
                best, best_n = state, n
    assert best is not None
    return AdmissionResult(frozenset(_keys(best[2])), best[1], explored)


def _pareto(frontier: list[_State]) -> list[_State]:
    """Keep states not dominated in (kv, time): sort by kv, keep strictly improving time."""
    if len(frontier) == 1:
        return frontier
    frontier.sort(key=lambda s: (s[0], s[1]))
    kept = []
    best_t = float("inf")
    for s in frontier:
        if s[1] < best_t:
            kept.append(s)
            best_t = s[1]
    return kept


def _length(link: tuple | None) -> int:
    n = 0
    while link is not None:
        n += 1
        link = link[1]
    return n


def _keys(link: tuple | None) -> list[int]:
    out = []
    while link is not None:
        out.append(link[0])
        link = link[1]
    return out


def first_token_times(items: Sequence[AdmissionItem], base_counts: tuple[int, ...],
                      now: float, rate_of: PrefillRate,
                      clock: StepClock | None = None) -> dict[int, float]:
    """When each item's first token comes if all of them are admitted (the audit's
    detail: what the plan promised against the deadline)."""
    order, timeline, _ = _in_edf_order(items, base_counts, now, rate_of, clock)
    t, counts, done_at = now, base_counts, {}
    for item in order:
        counts, t, done_at[item.key] = timeline.step(t, counts, item)
    return done_at


def admit_greedy_all(items: Sequence[AdmissionItem], base_counts: tuple[int, ...], now: float,
                     kv_free_tokens: int, rate_of: PrefillRate,
                     clock: StepClock | None = None, own_deadlines: bool = True) -> bool:
    """True when admitting every candidate is feasible (then the DP's answer is all of them).
    Without `own_deadlines` the candidates' own first tokens are not checked: only that
    the admitted ones stay on time and the KV fits."""
    order, timeline, limits = _in_edf_order(items, base_counts, now, rate_of, clock)
    t, counts, kv = now, base_counts, 0
    for item in order:
        counts, t, done = timeline.step(t, counts, item)
        kv += item.kv_tokens
        if item.forced:
            if late(done, limits[item.key]):
                return False
        elif kv > kv_free_tokens or (own_deadlines and late(done, item.deadline_s)):
            return False
    return True
