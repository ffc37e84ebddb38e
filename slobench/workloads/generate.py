"""Turn a scenario into a concrete workload: sessions of calls on a unit-rate timeline.

Deterministic for (scenario, num_sessions, seed): arrivals, class draws and
lengths each use their own random stream, so e.g. a class's lengths do not
shift when the arrival process changes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from slobench.core.errors import input_error
from slobench.workloads.arrivals import ArrivalProcess, TraceArrivals
from slobench.workloads.entities import CallSpec, OutputPhase, SessionSpec, Workload
from slobench.workloads.scenario import RequestClass, Scenario

Calls = tuple[CallSpec, ...]

log = logging.getLogger(__name__)


def _single(cls: RequestClass, rng: np.random.Generator, k: int,
            trace_lengths: tuple[np.ndarray, np.ndarray] | None) -> list[Calls]:
    stage = cls.stages[0]
    if trace_lengths is not None:
        prompts, outputs = trace_lengths
    else:
        assert cls.prompt is not None and stage.output is not None  # checked on load
        prompts = cls.prompt.sample_tokens(rng, k)
        outputs = stage.output.sample_tokens(rng, k)
    assert stage.ttft_slowdown is not None
    return [(CallSpec(stage.name, int(p), (OutputPhase(stage.name, int(o), stage.tpot_ms),),
                      stage.ttft_slowdown),)
            for p, o in zip(prompts, outputs, strict=True)]


def _reasoning(cls: RequestClass, rng: np.random.Generator, k: int) -> list[Calls]:
    thinking, response = cls.stages
    assert cls.prompt and thinking.output and response.output and thinking.ttft_slowdown
    prompts = cls.prompt.sample_tokens(rng, k)
    think = thinking.output.sample_tokens(rng, k)
    answer = response.output.sample_tokens(rng, k)
    # One request whose output changes TPOT SLO midway: the thinking stage sets TTFT.
    return [(CallSpec("reasoning", int(p),
                      (OutputPhase(thinking.name, int(t), thinking.tpot_ms),
                       OutputPhase(response.name, int(a), response.tpot_ms)),
                      thinking.ttft_slowdown),)
            for p, t, a in zip(prompts, think, answer, strict=True)]


def _tool_chain(cls: RequestClass, rng: np.random.Generator, k: int) -> list[Calls]:
    inter, final = cls.stages
    assert cls.prompt and cls.calls and cls.tool_result and cls.tool_delay_s
    assert inter.output and final.output and inter.ttft_slowdown and final.ttft_slowdown
    counts = cls.calls.sample_tokens(rng, k, minimum=2)  # a chain has >= 2 calls
    first_prompts = cls.prompt.sample_tokens(rng, k)
    final_outputs = final.output.sample_tokens(rng, k)
    steps = int((counts - 1).sum())  # intermediate calls in all chains together
    inter_outputs = iter(inter.output.sample_tokens(rng, steps).tolist())
    results = iter(cls.tool_result.sample_tokens(rng, steps).tolist())
    delays = iter(np.maximum(cls.tool_delay_s.sample(rng, steps), 0.0).tolist())

    chains: list[Calls] = []
    for count, prompt, last_output in zip(counts, first_prompts, final_outputs, strict=True):
        calls = []
        prompt = int(prompt)
        for _ in range(int(count) - 1):
            out = next(inter_outputs)
            calls.append(CallSpec(inter.name, prompt, (OutputPhase(inter.name, out,
                                                                   inter.tpot_ms),),
                                  inter.ttft_slowdown, tool_delay_s=next(delays)))
            # The next call sees everything so far plus what the tool returned.
            prompt = prompt + out + next(results)
        calls.append(CallSpec(final.name, prompt,
                              (OutputPhase(final.name, int(last_output), final.tpot_ms),),
                              final.ttft_slowdown))
        chains.append(tuple(calls))
    return chains


def generate(
    scenario: Scenario,
    num_sessions: int,
    seed: int,
    max_context: int | None = None,
    trace_path: str | Path | None = None,
) -> Workload:
    """Draw `num_sessions` sessions of `scenario` at 1 session/s (use `at_rate` to scale).

    `trace_path` replays that trace's timestamps instead of the scenario's arrival
    process (keeping a trace scenario's window), and its lengths for classes with
    lengths = "trace" and for a scenario with one single-call class. Sessions with a
    call whose prompt + output exceed `max_context` are dropped whole and counted in
    `dropped_too_long` (in sessions); no replacements are drawn, so fewer than
    `num_sessions` may remain. Session ids are 0..n-1 in start order.
    """
    _check_args(scenario, num_sessions, max_context)
    notes: dict[str, str] = {}
    arrival, trace_classes = _arrival(scenario, trace_path, notes)
    classes = scenario.classes
    seq_arrival, seq_class, seq_lengths = np.random.SeedSequence(seed).spawn(3)
    n = num_sessions
    times = arrival.times(np.random.default_rng(seq_arrival), n)
    weights = np.array([c.weight for c in classes])
    picks = np.random.default_rng(seq_class).choice(len(classes), size=n, p=weights / weights.sum())
    trace_lengths = arrival.lengths(n) if isinstance(arrival, TraceArrivals) else None
    calls_of = _draw_calls(classes, picks, seq_lengths, trace_classes, trace_lengths)
    sessions, dropped, dropped_calls = _sessions(calls_of, times, classes, picks, max_context)
    _add_notes(notes, arrival, n, trace_classes)
    if dropped:
        notes["dropped_too_long"] = (f"{dropped} of {n} sessions ({dropped_calls} calls) had a "
                                     f"call longer than max_context={max_context} tokens")
    log.debug("%s: %d sessions drawn, %d dropped as too long", scenario.name, n, dropped)
    return Workload(scenario=scenario.name, sessions=tuple(sessions), rate=1.0,
                    dropped_too_long=dropped, notes=notes)


def _check_args(scenario: Scenario, num_sessions: int, max_context: int | None) -> None:
    src = f"scenario {scenario.name}"
    if isinstance(num_sessions, bool) or not isinstance(num_sessions, int) or num_sessions < 0:
        raise input_error(src, "num_sessions", f"must be an integer >= 0, got {num_sessions!r}")
    if max_context is not None and max_context <= 0:
        raise input_error(src, "max_context", f"must be > 0, got {max_context}")


def _arrival(scenario: Scenario, trace_path: str | Path | None,
             notes: dict[str, str]) -> tuple[ArrivalProcess, set[str]]:
    """The arrival process (a trace replayed over the scenario's when `trace_path` is
    given) and the classes whose lengths come from the trace."""
    arrival = scenario.arrival
    classes = scenario.classes
    trace_classes = {c.name for c in classes if c.lengths == "trace"}
    if trace_path is not None:
        window = arrival.window if isinstance(arrival, TraceArrivals) else None
        arrival = TraceArrivals.load(trace_path,
                                     window.window_start_s if window else 0.0,
                                     window.window_s if window else None)
        notes["arrival_override"] = f"replaying {trace_path} instead of {scenario.arrival.kind}"
        if len(classes) == 1 and classes[0].kind == "single":
            trace_classes.add(classes[0].name)
    return arrival, trace_classes


def _draw_calls(classes: tuple[RequestClass, ...], picks: np.ndarray,
                seq_lengths: np.random.SeedSequence, trace_classes: set[str],
                trace_lengths: tuple[np.ndarray, np.ndarray] | None) -> list[Calls]:
    """Each session's calls, drawn class by class, each class from its own stream."""
    calls_of: list[Calls | None] = [None] * len(picks)
    for ci, (cls, seq) in enumerate(zip(classes, seq_lengths.spawn(len(classes)), strict=True)):
        idx = np.flatnonzero(picks == ci)
        rng = np.random.default_rng(seq)
        if cls.kind == "tool_chain":
            built = _tool_chain(cls, rng, len(idx))
        elif cls.kind == "reasoning":
            built = _reasoning(cls, rng, len(idx))
        else:
            lengths = None
            if cls.name in trace_classes:
                assert trace_lengths is not None  # load() checks the arrival is a trace
                lengths = (trace_lengths[0][idx], trace_lengths[1][idx])
            built = _single(cls, rng, len(idx), lengths)
        for i, calls in zip(idx, built, strict=True):
            calls_of[i] = calls
    assert all(calls is not None for calls in calls_of)
    return calls_of  # type: ignore[return-value]


def _sessions(calls_of: list[Calls], times: np.ndarray, classes: tuple[RequestClass, ...],
              picks: np.ndarray, max_context: int | None
              ) -> tuple[list[SessionSpec], int, int]:
    """The sessions that fit `max_context`, numbered in start order; the sessions and
    calls dropped."""
    sessions: list[SessionSpec] = []
    dropped = dropped_calls = 0
    for i, calls in enumerate(calls_of):
        if max_context is not None and any(
                c.prompt_tokens + c.output_tokens > max_context for c in calls):
            dropped += 1
            dropped_calls += len(calls)
            continue
        sessions.append(SessionSpec(len(sessions), float(times[i]), classes[picks[i]].name,
                                    calls))
    return sessions, dropped, dropped_calls


def _add_notes(notes: dict[str, str], arrival: ArrivalProcess, n: int,
               trace_classes: set[str]) -> None:
    notes["arrival"] = arrival.describe()
    notes.update(arrival.notes(n))
    if trace_classes:
        notes["trace_lengths"] = f"lengths from the trace for: {', '.join(sorted(trace_classes))}"
        if isinstance(arrival, TraceArrivals) and (zero := arrival.zero_token_rows(n)):
            notes["trace_zero_tokens"] = (f"{zero} of {n} replayed trace rows had 0 prompt or "
                                          "output tokens: raised to 1 token")
