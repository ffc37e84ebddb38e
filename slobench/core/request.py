"""A request as every scheduler and engine adapter sees it.

Progress follows vLLM v1's bookkeeping: `num_computed` counts tokens whose KV
is computed; a request needs `prompt_tokens + generated - num_computed` more
tokens computed, and when that reaches zero at the end of a step the engine
samples one output token. Preemption by recompute resets `num_computed` to 0
and keeps the generated tokens, exactly like vLLM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(slots=True, eq=False)
class SchedRequest:
    rid: int
    arrival_s: float               # when the call was due at the server (scheduled send)
    prompt_tokens: int
    output_tokens: int             # true length: the engine stops here (the client's max_tokens)
    expected_output: int           # what a scheduler may plan on (known, or a prediction)
    ttft_slo_s: float
    # (first token index, tpot seconds) per output phase, token indices 1-based.
    phase_tpots: tuple[tuple[int, float], ...]
    has_slo: bool = True           # False: no SLO was sent; schedulers serve it best-effort
    num_computed: int = 0
    generated: int = 0
    first_token_s: float = math.nan
    finish_s: float = math.nan
    token_times: list[float] = field(default_factory=list)
    best_effort: bool = False
    rejected: bool = False
    replica: int = -1
    num_preemptions: int = 0
    # Scheduler-private state (e.g. the SLOs-Serve tier) lives here, keyed by policy.
    sched_state: dict = field(default_factory=dict)

    @property
    def ttft_deadline_s(self) -> float:
        return self.arrival_s + self.ttft_slo_s

    @property
    def tokens_needed(self) -> int:
        """Tokens to compute before the next output token can be sampled."""
        return self.prompt_tokens + self.generated - self.num_computed


    @property
    def finished(self) -> bool:
        return self.generated >= self.output_tokens

    def tpot_for_token(self, n: int) -> float:
        """TPOT SLO (s) that applies to output token n (1-based)."""
        tpot = self.phase_tpots[0][1]
        for first, t in self.phase_tpots:
            if n >= first:
                tpot = t
        return tpot

    @property
    def current_tpot_s(self) -> float:
        return self.tpot_for_token(self.generated + 1)

