"""Decode fast-forward: a stretch of identical pure-decode steps advanced in one move.

When every request of a batch decodes one token, the policy picks the same batch again
step after step until something moves: an arrival, a finish, a KV block the pool cannot
give, a policy trigger (re-plan timer, a decode falling due, a phase change). The policy
says how long its choice holds (`steady_decode`); the run here computes the steps' end
times with the engine's own arithmetic, checks KV by counters, ends at the latest with
the step that finishes a request (its last token), and applies the whole stretch to the
requests only when it ends: each request takes the stretch's token times as one slice.
The run looks ahead a few steps at a time (`extend`, doubling), so an arrival that cuts
it wastes little look-ahead; the event loop sees one step event per stretch looked at.
"""

from __future__ import annotations

from bisect import bisect_left

from slobench.core.request import SchedRequest
from slobench.perf.model import PerfModel
from slobench.sched.interface import RepeatCheck
from slobench.sched.kv_blocks import BLOCK_SIZE, BlockPool

MAX_RUN_STEPS = 256      # the most steps one run looks ahead
FIRST_LOOK = 4           # steps looked at first; each extension doubles the run


class DecodeRun:
    """The steps of one run so far (`ends`, `taken`) and where its look-ahead stands."""

    __slots__ = ("_active", "_check", "_context0", "_horizon", "_perf", "_room", "_starts",
                 "_step_s", "_t", "_used", "cost_s", "ends", "free0", "open",
                 "opens_with_prefill", "queue", "reqs", "taken")

    def __init__(self, items: list[tuple[SchedRequest, int]], room: int, kv: BlockPool,
                 perf: PerfModel, check: RepeatCheck, first_end: float, horizon: float,
                 queue: tuple[int, int], opens_with_prefill: bool) -> None:
        self.reqs = [r for r, _ in items]
        self.ends = [first_end]         # end of step j; step j > 0 starts at ends[j - 1]
        self.taken = [0]                # KV blocks the steps up to j take beyond step 0's
        self.free0 = kv.free_blocks     # free blocks once step 0 was allocated
        self.queue = queue              # (waiting, running) while the run lasts
        self.cost_s = 0.0               # wall time the look-ahead took
        # Step 0 completes prompts (the decodes start at step 1): the replica applies
        # it as any step, `apply` the rest.
        self.opens_with_prefill = opens_with_prefill
        self.open = True                # the look-ahead may go on
        n = len(self.reqs)
        self._context0 = sum(r.num_computed + k for r, k in items)   # step j's: + j * n
        # Request r needs a new block at steps f, f + BLOCK_SIZE, ... (f = room left in
        # its blocks after step 0, plus one); `_active[k]` counts those whose steps are
        # k mod BLOCK_SIZE, each counted from step f on (`_starts[f]`; f < 1 cannot
        # happen once step 0 holds its blocks, but would count from step 1).
        self._active = active = [0] * BLOCK_SIZE
        self._starts = starts = [0] * room
        held = kv.blocks.get
        for r, k in items:
            f = held(r.rid, 0) * BLOCK_SIZE - (r.num_computed + k - 1)
            if f < 1:
                active[f % BLOCK_SIZE] += 1
            elif f < room:
                starts[f] += 1
        self._room, self._perf, self._check, self._horizon = room, perf, check, horizon
        self._t, self._used = first_end, 0
        # Only the steps' contexts change: a model without a context term times them once.
        self._step_s = (perf.step_time(0, n, self._context0 + n, 0) if perf.context_free
                        else None)

    @property
    def steps(self) -> int:
        return len(self.ends)

    def extend(self, more: int | None = None) -> bool:
        """Look `more` steps further (default: as many as the run has); False when not
        one more step repeats (the run is then closed)."""
        j = len(self.ends)
        stop = min(self._room, j + (j if more is None else more))
        active, starts, ends, taken = self._active, self._starts, self.ends, self.taken
        check, perf, horizon, free0 = self._check, self._perf, self._horizon, self.free0
        n, context0, step_s = len(self.reqs), self._context0, self._step_s
        t, used, first = self._t, self._used, j
        while j < stop:
            if not check(t, j):
                self.open = False
                break
            new = active[j % BLOCK_SIZE] = active[j % BLOCK_SIZE] + starts[j]
            if used + new > free0:
                self.open = False
                break
            end = t + (step_s if step_s is not None else
                       perf.step_time(0, n, context0 + j * n, 0))
            if end > horizon:
                self.open = False
                break
            used += new
            ends.append(end)
            taken.append(used)
            t = end
            j += 1
        if j >= self._room:
            self.open = False
        self._t, self._used = t, used
        return j > first

    def cut(self, t: float, own: int, kicking: int | None) -> bool:
        """Something is added to this replica at `t`: keep the steps that started before
        it (and one starting exactly at `t` if this replica's kick came first), look no
        further; True if steps were dropped."""
        self.open = False
        keep = min(bisect_left(self.ends, t), self.steps - 1)     # steps 1..keep started
        if (keep + 1 < self.steps and self.ends[keep] == t and kicking is not None
                and own < kicking):
            keep += 1           # kicked before `kicking` at this instant: already planned
        if keep + 1 >= self.steps:
            return False
        del self.ends[keep + 1:]
        del self.taken[keep + 1:]
        return True

    def samples(self, total_blocks: int, due: float, interval: float
                ) -> list[tuple[float, float]]:
        """(start, KV used share) of the steps after the first that a timeline sampling
        every `interval` seconds from `due` on takes (a step starting at or after the
        next sample's time), found by bisection; the share computed as
        BlockPool.used_fraction computes it."""
        ends, last, out = self.ends, self.steps - 1, []
        k = bisect_left(ends, due, 0, last)      # step k + 1 starts at ends[k]
        while k < last:
            t = ends[k]
            out.append((t, 1.0 - (self.free0 - self.taken[k + 1]) / total_blocks))
            k = bisect_left(ends, t + interval, k + 1, last)
        return out

    def apply(self, kv: BlockPool) -> int:
        """The requests' progress after all the run's steps but a prefill step 0 (only
        the last step may finish some: the replica settles those); the steps applied."""
        k, ends = self.steps, self.ends
        if self.opens_with_prefill:
            k, ends = k - 1, ends[1:]
            if not k:
                return 0
        held = kv.blocks.get
        for r in self.reqs:
            computed = r.num_computed = r.num_computed + k
            r.generated += k
            r.token_times.extend(ends)
            if computed > held(r.rid, 0) * BLOCK_SIZE:
                kv.allocate(r, 0)   # the blocks the steps took, as allocate would have
        return k


def plan_run(items: list[tuple[SchedRequest, int]], room: int, kv: BlockPool,
             perf: PerfModel, check: RepeatCheck, first_end: float, horizon: float,
             queue: tuple[int, int], opens_with_prefill: bool = False) -> DecodeRun | None:
    """The run of steps whose first, the batch `items` (one-token decodes, or with
    `opens_with_prefill` prompts it completes beside them), ends at `first_end`, each
    later one all its requests decoding one token; at most `room` steps (only the
    last may finish a request), its first few looked at; None when not even one more
    step repeats."""
    room = min(room, MAX_RUN_STEPS)
    if room < 2 or first_end > horizon:
        return None
    run = DecodeRun(items, room, kv, perf, check, first_end, horizon, queue,
                    opens_with_prefill)
    return run if run.extend(FIRST_LOOK) else None
