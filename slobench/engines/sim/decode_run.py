"""Decode fast-forward: a stretch of identical pure-decode steps advanced in one move.

When every request of a batch decodes one token, the policy picks the same batch again
step after step until something moves: an arrival, a finish, a KV block the pool cannot
give, a policy trigger (re-plan timer, a decode falling due, a phase change). The policy
says how long its choice holds (`steady_decode`); the run here computes the steps' end
times with the engine's own arithmetic, checks KV by counters, ends at the latest with
the step that finishes a request (its last token), and applies the whole stretch to the
requests only when it ends: each request takes the stretch's token times as one slice.
The event loop sees one step event per run.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from slobench.core.request import SchedRequest
from slobench.perf.model import PerfModel
from slobench.sched.interface import RepeatCheck
from slobench.sched.kv_blocks import BLOCK_SIZE, BlockPool

MAX_RUN_STEPS = 256      # a run is cut at the next arrival anyway; bounds wasted look-ahead


@dataclass(slots=True, eq=False)
class DecodeRun:
    reqs: list[SchedRequest]
    ends: list[float]          # end of step j; step j > 0 starts at ends[j - 1]
    taken: list[int]           # KV blocks the steps up to j take beyond step 0's
    free0: int                 # free blocks once step 0 was allocated
    queue: tuple[int, int]     # (waiting, running) while the run lasts
    cost_s: float = 0.0        # wall time the look-ahead took

    @property
    def steps(self) -> int:
        return len(self.ends)

    def cut(self, t: float, own: int, kicking: int | None) -> bool:
        """Something is added to this replica at `t`: keep the steps that started before
        it (and one starting exactly at `t` if this replica's kick came first); True if
        steps were dropped."""
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

    def apply(self, kv: BlockPool) -> None:
        """The requests' progress after all the run's steps (only the last step may
        finish some: the replica settles those)."""
        k, ends = self.steps, self.ends
        for r in self.reqs:
            r.num_computed += k
            r.generated += k
            r.token_times.extend(ends)
            kv.allocate(r, 0)       # the blocks the steps took, as allocate would have


def plan_run(reqs: list[SchedRequest], room: int, kv: BlockPool, perf: PerfModel,
             check: RepeatCheck, first_end: float, horizon: float,
             queue: tuple[int, int]) -> DecodeRun | None:
    """The run of steps repeating the pure-decode batch `reqs` whose first step ends at
    `first_end`, at most `room` steps (only the last may finish a request); None when
    not even one more step repeats."""
    room = min(room, MAX_RUN_STEPS)
    if room < 2 or first_end > horizon:
        return None
    n = len(reqs)
    context0 = sum(r.num_computed for r in reqs) + n
    # Request r needs a new block at steps f, f + BLOCK_SIZE, ... (f = room left in its
    # blocks after step 0); `active[k]` counts those whose steps are k mod BLOCK_SIZE,
    # each counted from step f on (`starts[f]`; f < 1 cannot happen once step 0 holds
    # its blocks, but would count from step 1).
    active = [0] * BLOCK_SIZE
    starts = [0] * room
    held = kv.blocks.get
    for r in reqs:
        f = held(r.rid, 0) * BLOCK_SIZE - r.num_computed
        if f < 1:
            active[f % BLOCK_SIZE] += 1
        elif f < room:
            starts[f] += 1
    free0 = kv.free_blocks
    ends, taken = [first_end], [0]
    t, used, j = first_end, 0, 1
    # Only the steps' contexts change: a model without a context term times them once.
    step_s = perf.step_time(0, n, context0 + n, 0) if perf.context_free else None
    while j < room and check(t, j):
        new = active[j % BLOCK_SIZE] = active[j % BLOCK_SIZE] + starts[j]
        if used + new > free0:
            break
        end = t + (step_s if step_s is not None else
                   perf.step_time(0, n, context0 + j * n, 0))
        if end > horizon:
            break
        used += new
        ends.append(end)
        taken.append(used)
        t = end
        j += 1
    if j < 2:
        return None
    return DecodeRun(reqs, ends, taken, free0, queue)
