"""From a workload's CallSpec to the SchedRequest an engine serves, with absolute SLOs."""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np

from slobench.core.request import SchedRequest
from slobench.perf.model import PerfModel
from slobench.workloads.entities import CallSpec, SessionSpec, Workload


def phase_tpots(call: CallSpec, tpot_scale: float) -> tuple[tuple[int, float], ...]:
    """(first token index, tpot s) per non-empty output phase."""
    out: list[tuple[int, float]] = []
    first = 1
    for phase in call.phases:
        if phase.tokens > 0:
            out.append((first, phase.tpot_ms / 1000.0 * tpot_scale))
            first += phase.tokens
    return tuple(out) or ((1, call.phases[0].tpot_ms / 1000.0 * tpot_scale),)


def tpot_tiers(workload: Workload, tpot_scale: float) -> tuple[float, ...]:
    """Distinct TPOT SLOs (s) present in the workload."""
    tiers = {round(t, 9) for s in workload.sessions for c in s.calls
             for _, t in phase_tpots(c, tpot_scale)}
    return tuple(sorted(tiers))


class LengthPredictor:
    """Predicted output length per (class, stage): a quantile of that stage's lengths
    in the workload (the scenario's distribution), for runs with lengths unknown."""

    def __init__(self, workload: Workload, quantile: float) -> None:
        lengths: dict[tuple[str, str], list[int]] = defaultdict(list)
        for s in workload.sessions:
            for c in s.calls:
                lengths[(s.request_class, c.stage)].append(c.output_tokens)
        self.predictions = {k: max(1, int(np.quantile(v, quantile))) for k, v in lengths.items()}

    def __call__(self, request_class: str, stage: str) -> int:
        return self.predictions.get((request_class, stage), 128)


class RequestFactory:
    """Makes SchedRequests for an engine: TTFT from the slowdown and this engine's
    zero-load prefill time, TPOT scaled by calibration."""

    def __init__(self, perf: PerfModel, tpot_scale: float,
                 predictor: LengthPredictor | None = None) -> None:
        self.perf = perf
        self.tpot_scale = tpot_scale
        self.predictor = predictor
        self._ids = itertools.count()
        self._prefill_cache: dict[int, float] = {}

    def prefill_s(self, prompt: int) -> float:
        t = self._prefill_cache.get(prompt)
        if t is None:
            t = self._prefill_cache[prompt] = self.perf.prefill_time(prompt)
        return t

    def __call__(self, session: SessionSpec, index: int, call: CallSpec,
                 arrival_s: float) -> SchedRequest:
        expected = (call.output_tokens if self.predictor is None
                    else self.predictor(session.request_class, call.stage))
        return SchedRequest(
            rid=next(self._ids),
            arrival_s=arrival_s,
            prompt_tokens=call.prompt_tokens,
            output_tokens=max(1, call.output_tokens),
            expected_output=expected,
            ttft_slo_s=call.ttft_slowdown * self.prefill_s(call.prompt_tokens),
            phase_tpots=phase_tpots(call, self.tpot_scale),
        )
