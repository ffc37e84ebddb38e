"""Real run vs its simulator twin, side by side (SPEC §10).

One row per (scenario, backend, rate) with `_real` and `_twin` column pairs, and one per
(scenario, backend) capacity. Where the two disagree beyond the stated tolerances the
row says so (`agrees` False): the gap is shown, never hidden.
"""

from __future__ import annotations

import math

import pandas as pd

POINT_METRICS = ("attainment", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s",
                 "rejected_share", "best_effort_share")
ATTAINMENT_TOL = 0.15          # |real - twin| attainment a point may differ by
CAPACITY_TOL = 0.25            # relative capacity difference allowed


def with_shares(points: pd.DataFrame) -> pd.DataFrame:
    out = points.copy()
    n = out["num_requests"].where(out["num_requests"] > 0)
    out["rejected_share"] = out["n_rejected"] / n
    out["best_effort_share"] = out["n_best_effort"] / n
    return out


def crossing_capacity(points: list[tuple[float, float]], threshold: float
                      ) -> tuple[float, str]:
    """Capacity from a grid of fixed rates: where attainment crosses the threshold,
    linearly interpolated between the highest passing rate and the next (failing) one;
    ("at_least", top rate) when every rate passes, (0, "below") when none does."""
    pts = sorted(points)
    passing = [i for i, (_, a) in enumerate(pts) if a >= threshold]
    if not passing:
        return 0.0, "below"
    i = passing[-1]
    if i == len(pts) - 1:
        return pts[i][0], "at_least"
    (r0, a0), (r1, a1) = pts[i], pts[i + 1]
    frac = (a0 - threshold) / (a0 - a1) if a0 > a1 else 0.0
    return r0 + (r1 - r0) * min(1.0, max(0.0, frac)), "measured"


def fidelity_points(real: pd.DataFrame, twin: pd.DataFrame) -> pd.DataFrame:
    keys = ["scenario", "backend", "rate"]
    cols = [*keys, *POINT_METRICS]
    merged = with_shares(real)[cols].merge(with_shares(twin)[cols], on=keys,
                                           suffixes=("_real", "_twin"))
    merged["kind"] = "point"
    merged["attainment_gap"] = merged["attainment_twin"] - merged["attainment_real"]
    merged["agrees"] = merged["attainment_gap"].abs() <= ATTAINMENT_TOL
    return merged


def fidelity_capacities(real: dict[tuple[str, str], tuple[float, str]],
                        twin: dict[tuple[str, str], tuple[float, str]]) -> pd.DataFrame:
    rows = []
    for key in sorted(set(real) & set(twin)):
        (cr, br), (ct, bt) = real[key], twin[key]
        rel = (ct - cr) / cr if cr > 0 else (0.0 if ct == 0 else math.inf)
        rows.append({"scenario": key[0], "backend": key[1], "kind": "capacity",
                     "capacity_real": cr, "capacity_twin": ct, "bound_real": br,
                     "bound_twin": bt, "capacity_rel_gap": rel,
                     "agrees": abs(rel) <= CAPACITY_TOL and br == bt})
    return pd.DataFrame(rows)
