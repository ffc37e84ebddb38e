"""What a workload is made of: sessions of calls, each call with its SLOs.

A *session* is what the arrival process emits. Single-call scenarios have one
call per session; tool calling chains several calls, the next one sent after
the previous finishes plus a tool delay. A call's output may have phases with
their own TPOT SLO (reasoning: thinking, then response).

Times here are on the workload's *unit-rate* timeline (mean 1 session/s);
`Workload.at_rate` scales them to a target rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True, slots=True)
class OutputPhase:
    """A run of output tokens judged with one TPOT SLO."""

    name: str
    tokens: int
    tpot_ms: float

    def __post_init__(self) -> None:
        if self.tokens < 0:
            raise ValueError(f"phase {self.name}: tokens must be >= 0, got {self.tokens}")
        if self.tpot_ms <= 0:
            raise ValueError(f"phase {self.name}: tpot_ms must be > 0, got {self.tpot_ms}")


@dataclass(frozen=True, slots=True)
class CallSpec:
    """One request to the server, as the workload asks for it."""

    stage: str                      # stage name, e.g. "chat", "intermediate_call", "final_answer"
    prompt_tokens: int
    phases: tuple[OutputPhase, ...]
    ttft_slowdown: float            # TTFT SLO as a multiple of zero-load prefill time
    tool_delay_s: float = 0.0       # wait after this call finishes before the next call is sent

    @property
    def output_tokens(self) -> int:
        return sum(p.tokens for p in self.phases)

    @property
    def tightest_tpot_ms(self) -> float:
        return min(p.tpot_ms for p in self.phases)


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """What the arrival process emits: one or more chained calls."""

    session_id: int
    start_s: float                  # scheduled send time of the first call
    request_class: str              # scenario class ("coding", ...; mixed has several)
    calls: tuple[CallSpec, ...]


# Notes a user must see: sessions dropped, trace rows altered, a trace replayed again.
WARNING_NOTES = ("dropped_too_long", "trace_zero_tokens", "trace_wrapped")


@dataclass(frozen=True)
class Workload:
    """A generated workload: sessions sorted by start time, plus what was dropped."""

    scenario: str
    sessions: tuple[SessionSpec, ...]
    rate: float = 1.0               # sessions per second the start times are laid out for
    dropped_too_long: int = 0       # requests dropped for exceeding the model's context
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def num_calls(self) -> int:
        return sum(len(s.calls) for s in self.sessions)

    def warnings(self) -> list[str]:
        """The notes that change what is measured, for the console (all are in run.json)."""
        return [self.notes[k] for k in WARNING_NOTES if k in self.notes]

    def at_rate(self, rate: float) -> Workload:
        """The same sessions with start times compressed/stretched to `rate` sessions/s.

        Uniform scaling keeps a trace's bursts; tool delays are not scaled (they are
        tool latency, not load).
        """
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        k = self.rate / rate
        sessions = tuple(replace(s, start_s=s.start_s * k) for s in self.sessions)
        return replace(self, sessions=sessions, rate=rate)
