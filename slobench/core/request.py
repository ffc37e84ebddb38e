"""A request as every scheduler and engine adapter sees it.

Progress follows vLLM v1's bookkeeping: `num_computed` counts tokens whose KV
is computed; a request needs `prompt_tokens + generated - num_computed` more
tokens computed, and when that reaches zero at the end of a step the engine
samples one output token. Preemption by recompute resets `num_computed` to 0
and keeps the generated tokens, exactly like vLLM.

`SloEnvelope` is the same request's SLOs on the wire to a real engine (`vllm_xargs`):
its field names are defined here once, for the load generator, the router and the
vLLM plugin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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


# The SLO envelope's wire names in `vllm_xargs` (flat: vLLM allows scalars and lists).
TTFT_SLO_S = "ttft_slo_s"
ARRIVAL_S = "arrival_s"                        # on the probe's timeline
ARRIVAL_MONOTONIC_S = "arrival_monotonic_s"    # the same instant on CLOCK_MONOTONIC
TPOT_PHASE_STARTS = "tpot_phase_starts"        # first token index (1-based) per phase
TPOT_SLOS_S = "tpot_slos_s"                    # TPOT SLO per phase
EXPECTED_OUTPUT_TOKENS = "expected_output_tokens"
CALL = "call"                                  # the call's key, for the verdict log
LAST_TRY = "last_try"                          # the router's: no other replica is offered it


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _phases(starts: Any, tpots: Any) -> tuple[tuple[int, float], ...]:
    starts, tpots = list(starts or [1]), list(tpots or [])
    if not tpots or len(starts) != len(tpots):
        return ()
    try:
        return tuple((int(f), float(t)) for f, t in zip(starts, tpots, strict=True))
    except (TypeError, ValueError):
        return ()


@dataclass(frozen=True, slots=True)
class SloEnvelope:
    """The SLOs a request carries to a real engine, as `vllm_xargs`: written by the load
    generator, extended by the router (`last_try`), read by the vLLM plugin. None: the
    field is not sent. A request whose envelope is not `complete` is served best-effort."""

    ttft_slo_s: float | None = None
    phase_tpots: tuple[tuple[int, float], ...] = ()
    expected_output_tokens: int | None = None
    arrival_s: float | None = None
    arrival_monotonic_s: float | None = None
    call: str | None = None
    last_try: bool | None = None        # None: not said (the engine takes it as True)

    @classmethod
    def for_request(cls, req: SchedRequest, arrival_monotonic_s: float,
                    call: str = "") -> SloEnvelope:
        return cls(ttft_slo_s=req.ttft_slo_s, phase_tpots=req.phase_tpots,
                   expected_output_tokens=req.expected_output, arrival_s=req.arrival_s,
                   arrival_monotonic_s=arrival_monotonic_s, call=call)

    @property
    def complete(self) -> bool:
        """A TTFT SLO and a TPOT per phase: enough to plan the request."""
        return self.ttft_slo_s is not None and bool(self.phase_tpots)

    def to_xargs(self) -> dict[str, Any]:
        """The fields sent (not None), in wire order."""
        phases = self.phase_tpots
        fields = ((TTFT_SLO_S, self.ttft_slo_s), (ARRIVAL_S, self.arrival_s),
                  (ARRIVAL_MONOTONIC_S, self.arrival_monotonic_s),
                  (TPOT_PHASE_STARTS, [first for first, _ in phases] if phases else None),
                  (TPOT_SLOS_S, [t for _, t in phases] if phases else None),
                  (EXPECTED_OUTPUT_TOKENS, self.expected_output_tokens), (CALL, self.call),
                  (LAST_TRY, self.last_try))
        return {name: value for name, value in fields if value is not None}

    @classmethod
    def from_xargs(cls, xargs: Mapping[str, Any]) -> SloEnvelope:
        """Lenient: a field of the wrong type reads as not sent; phases whose starts and
        TPOTs do not pair up read as none (so the envelope is not complete)."""
        phases = _phases(xargs.get(TPOT_PHASE_STARTS), xargs.get(TPOT_SLOS_S))
        expected = xargs.get(EXPECTED_OUTPUT_TOKENS)
        call = xargs.get(CALL)
        last_try = xargs.get(LAST_TRY)
        return cls(ttft_slo_s=_number(xargs.get(TTFT_SLO_S)), phase_tpots=phases,
                   expected_output_tokens=int(expected) if expected else None,
                   arrival_s=_number(xargs.get(ARRIVAL_S)),
                   arrival_monotonic_s=_number(xargs.get(ARRIVAL_MONOTONIC_S)),
                   call=call if isinstance(call, str) else None,
                   last_try=None if last_try is None else bool(last_try))


def with_last_try(xargs: Mapping[str, Any] | None, last_try: bool) -> dict[str, Any]:
    """`xargs` as sent, plus the router's `last_try` (other fields pass through as they are)."""
    return {**(xargs or {}), LAST_TRY: last_try}
