"""Turning the scenarios' SLOs into absolute deadlines for the engine in use (SPEC §5).

TTFT SLOs are slowdowns: slowdown x the zero-load prefill time of the prompt
on this engine. TPOT SLOs are the paper's milliseconds, scaled by
(this engine's single-request decode step) / (the paper's reference decode
step: OPT-13B on 2xA100, fitted profile, N = 1), so a tiny CPU model or an
H100 keeps the paper's SLO tightness. `--slo-scale` overrides the factor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

# The paper's OPT-13B (TP 2) A100 profile at one decode token: 7.213e-5 * 1 + 0.03173 s.
REFERENCE_DECODE_STEP_S = 7.213e-5 + 0.03173
PROBE_PROMPTS = (128, 512, 1024, 2048, 4096)


class StepTimes(Protocol):
    """What calibration asks of a step-time model (perf.model.PerfModel has it)."""

    def decode_step_time(self, batch: int = 1, context: int = 512) -> float: ...
    def prefill_time(self, prompt_tokens: int) -> float: ...


@dataclass(frozen=True)
class Calibration:
    decode_step_s: float
    reference_decode_step_s: float
    tpot_scale: float
    prefill_s: dict[int, float]
    rule: str
    source: str                    # "perf-model" (sim) or "measured" (real engine)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["prefill_s"] = {str(k): v for k, v in self.prefill_s.items()}
        return d


def calibrate_model(perf: StepTimes, override_scale: float | None = None) -> Calibration:
    decode = perf.decode_step_time(1, 512)
    scale = override_scale if override_scale is not None else decode / REFERENCE_DECODE_STEP_S
    rule = ("tpot_slo = paper_tpot_ms * tpot_scale; tpot_scale = "
            + ("--slo-scale (user override)" if override_scale is not None else
               "decode_step(batch 1) / paper reference decode step (OPT-13B, 2xA100)")
            + "; ttft_slo = slowdown * zero-load prefill time of the prompt")
    return Calibration(decode, REFERENCE_DECODE_STEP_S, scale,
                       {p: perf.prefill_time(p) for p in PROBE_PROMPTS}, rule, "perf-model")
