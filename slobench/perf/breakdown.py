"""What one batch step costs, part by part (`slobench perf`).

A roofline step is the sum of its parts (`RooflineModel.step_parts`); a fitted or
measured profile has no parts, so it is shown as one part holding the whole step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from slobench.perf.model import PerfModel

Bound = Literal["compute", "memory", "latency", "network", "fixed", "fitted"]
BOUNDS: tuple[str, ...] = ("compute", "memory", "latency", "network", "fixed", "fitted")
# The roofline's parts, in the order they are summed.
PART_NAMES: tuple[str, ...] = ("linear", "attention", "elementwise", "lm_head", "allreduce",
                               "overhead", "draft")


@dataclass(frozen=True)
class Part:
    """One term of a step: seconds, and which limit it hits."""

    name: str
    seconds: float
    bound: Bound

    def __post_init__(self) -> None:
        if not (math.isfinite(self.seconds) and self.seconds >= 0):
            raise ValueError(f"part {self.name}: seconds must be finite and >= 0, "
                             f"got {self.seconds!r}")
        if self.bound not in BOUNDS:
            raise ValueError(f"part {self.name}: bound must be one of {', '.join(BOUNDS)}, "
                             f"got {self.bound!r}")


@dataclass(frozen=True)
class StepParts:
    """A batch step's parts; `total` is exactly the model's step time."""

    prefill_tokens: int
    decode_tokens: int
    context_tokens: int
    draft_steps: int
    parts: tuple[Part, ...]

    def __post_init__(self) -> None:
        for field_name in ("prefill_tokens", "decode_tokens", "context_tokens", "draft_steps"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{field_name} must be an integer >= 0, got {value!r}")
        if not self.parts:
            raise ValueError("a step needs at least one part")

    @property
    def total(self) -> float:
        # Summed left to right from 0, as step_time sums the same floats.
        return sum(p.seconds for p in self.parts)

    def part(self, name: str) -> Part:
        for p in self.parts:
            if p.name == name:
                return p
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "prefill_tokens": self.prefill_tokens,
            "decode_tokens": self.decode_tokens,
            "context_tokens": self.context_tokens,
            "draft_steps": self.draft_steps,
            "step_time_s": self.total,
            "parts": {p.name: {"seconds": p.seconds, "bound": p.bound} for p in self.parts},
        }


def step_breakdown(perf: PerfModel, prefill_tokens: int, decode_tokens: int,
                   context_tokens: int, draft_steps: int = 0) -> StepParts:
    """The parts of one step of `perf`: the roofline's own, else the whole step as one."""
    step_parts = getattr(perf, "step_parts", None)
    if callable(step_parts):
        result = step_parts(prefill_tokens, decode_tokens, context_tokens, draft_steps)
        assert isinstance(result, StepParts)
        return result
    seconds = perf.step_time(prefill_tokens, decode_tokens, context_tokens, draft_steps)
    return StepParts(prefill_tokens, decode_tokens, context_tokens, draft_steps,
                     (Part("profile", seconds, "fitted"),))
