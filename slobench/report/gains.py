"""Capacity gains and the probe each (scenario, backend) is judged at (SPEC §4).

`operating_points` picks, per (scenario, backend), the probe that stands for
it in the report, the comparison and the gate:
- capacity runs: the point row at the capacity rate (capacity search only ever
  reports a rate it measured, so an exact match normally exists; otherwise the
  nearest rate at or below it);
- fixed-rate runs, or a capacity of 0 (nothing passed): the highest rate whose
  attainment met the threshold, else the lowest rate probed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from slobench.metrics.capacity import CapacityBound, bound_text
from slobench.metrics.gains import BASELINE, capacity_gain, geometric_mean

__all__ = ["BASELINE", "geometric_mean"]

SCENARIO_ORDER = ["chatbot", "coding", "summarization", "tool_calling", "reasoning", "mixed"]
GEOMEAN_ROW = "geomean"


def scenario_sort_key(name: str) -> tuple[int, str]:
    """The SPEC's order for the six scenarios, others after them alphabetically."""
    rank = SCENARIO_ORDER.index(name) if name in SCENARIO_ORDER else len(SCENARIO_ORDER)
    return (rank, name)


def ordered_scenarios(frame: pd.DataFrame) -> list[str]:
    return sorted({str(s) for s in frame["scenario"]}, key=scenario_sort_key)


def ordered_backends(frame: pd.DataFrame) -> list[str]:
    """vllm first (it is the baseline), then the rest alphabetically."""
    names = {str(b) for b in frame["backend"]}
    return sorted(names, key=lambda b: (b != BASELINE, b))


def capacity_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """One capacity row per (scenario, backend); the last wins if a run repeated one.

    Always has `capacity_bound` and `capacity_bound_sessions_per_s_per_gpu`. Files
    written before those columns existed are read by the search's own rule:
    `hit_max_rate` means at_least, a capacity of 0 means below the lowest rate probed.
    """
    rows = summary[summary["kind"] == "capacity"]
    rows = rows.drop_duplicates(["scenario", "backend"], keep="last").copy()
    for column in ("capacity_bound", "capacity_bound_sessions_per_s_per_gpu",
                   "capacity_bound_calls_per_s_per_gpu", "calls_per_session"):
        if column not in rows:
            rows[column] = None
    rows["capacity_bound"] = rows["capacity_bound"].astype(object)  # all-NaN reads as float
    legacy = rows["capacity_bound"].isna()
    if legacy.any():
        lowest = point_rows(summary).groupby(["scenario", "backend"])["rate"].min()
        filled = [_legacy_bound(row, lowest) for _, row in rows[legacy].iterrows()]
        rows.loc[legacy, "capacity_bound"] = [b for b, _ in filled]
        rows.loc[legacy, "capacity_bound_sessions_per_s_per_gpu"] = [e for _, e in filled]
    for column in ("capacity_bound_sessions_per_s_per_gpu", "capacity_bound_calls_per_s_per_gpu",
                   "calls_per_session"):
        rows[column] = rows[column].astype(float)
    return rows


def shown_capacity(row: pd.Series, unit: str = "sessions", per_gpu: bool = True) -> str:
    """A capacity_rows row's capacity as shown, in `unit`/s: `≥ X`, `< X` or `X`."""
    value = float(row[f"capacity_bound_{unit}_per_s_per_gpu"])
    return bound_text(value if per_gpu else value * float(row["gpus"]),
                      str(row["capacity_bound"]))


def counts_calls_apart(frame: pd.DataFrame) -> bool:
    """Whether any row's sessions hold more than one call (calls/s then differ)."""
    if "calls_per_session" not in frame:
        return False
    return bool((frame["calls_per_session"].astype(float) > 1 + 1e-9).any())


def _legacy_bound(row: pd.Series, lowest_rate: pd.Series) -> tuple[str, float]:
    cap = float(row["capacity_rps_per_gpu"])
    hit_max = row.get("hit_max_rate")
    if isinstance(hit_max, bool | np.bool_) and hit_max:
        return CapacityBound.AT_LEAST.value, cap
    if cap > 0:
        return CapacityBound.MEASURED.value, cap
    rate = lowest_rate.get((row["scenario"], row["backend"]), math.nan)
    return CapacityBound.BELOW.value, float(rate) / float(row["gpus"])


def gain_relation(num_bound: str, den_bound: str) -> str:
    """How capacity(num) / capacity(den) relates to the gain computed from the shown
    numbers: '' (a measurement), '≥', '≤', '<', or '?' (nothing can be said)."""
    if den_bound == CapacityBound.BELOW:
        return "?"   # no baseline capacity: the gain is undefined (NaN) anyway
    if num_bound == CapacityBound.BELOW:
        return "<"   # num < its lowest rate probed; den >= the number divided by
    if den_bound == CapacityBound.MEASURED:
        return "" if num_bound == CapacityBound.MEASURED else "≥"
    return "≤" if num_bound == CapacityBound.MEASURED else "?"


def bounded_gain(caps: pd.DataFrame, scenario: str, backend: str,
                 gain: float) -> tuple[str, float]:
    """A gain's relation to the truth (gain_relation) and the number to show with it.

    caps: capacity_rows indexed by (scenario, backend); gain: capacity_table's.
    """
    if (scenario, backend) not in caps.index or (scenario, BASELINE) not in caps.index:
        return "", math.nan
    mine, base = caps.loc[(scenario, backend)], caps.loc[(scenario, BASELINE)]
    relation = gain_relation(str(mine["capacity_bound"]), str(base["capacity_bound"]))
    if relation == "<":   # capacity 0 gives a gain of 0; the honest number is edge / base
        gain = (float(mine["capacity_bound_sessions_per_s_per_gpu"])
                / float(base["capacity_rps_per_gpu"]))
    return relation, gain


def pair_gain(mine: pd.Series, base: pd.Series) -> tuple[str, float]:
    """capacity(mine) / capacity(base) per GPU for two capacity_rows rows (any two
    backends, their GPU counts may differ), with gain_relation's sign: NaN when base has
    no capacity; for a `mine` that never passed, its lowest rate probed over base."""
    relation = gain_relation(str(mine["capacity_bound"]), str(base["capacity_bound"]))
    den = float(base["capacity_rps_per_gpu"])
    if not den > 0:
        return relation, math.nan
    num = (float(mine["capacity_bound_sessions_per_s_per_gpu"]) if relation == "<"
           else float(mine["capacity_rps_per_gpu"]))
    return relation, num / den


def best_of(caps: pd.DataFrame, scenario: str, backends: Iterable[str]) -> str | None:
    """Which of `backends` has the highest capacity per GPU in `scenario` (the first
    listed on a tie), among those that ran there; None when none did.

    caps: capacity_rows indexed by (scenario, backend)."""
    best, best_cap = None, -math.inf
    for backend in backends:
        if (scenario, backend) in caps.index:
            cap = float(caps.loc[(scenario, backend)]["capacity_rps_per_gpu"])
            if cap > best_cap:
                best, best_cap = backend, cap
    return best


def gain_text(relation: str, value: float) -> str:
    """A gain as shown: `×1.23`, `≥ ×1.23`, `< ×0.50`; `–` when undefined."""
    if value is None or not math.isfinite(value):
        return "–"
    if relation == "?":
        return "? (both at the search's edge)"
    return f"{relation} ×{value:.2f}".strip()


def point_rows(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary["kind"] == "point"]


def capacity_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Scenario × backend capacity per GPU, `gain_<backend>` vs vllm, and a geomean row.

    Gains are recomputed from capacity_rps_per_gpu rather than read from
    gain_vs_vllm so the table stays right for runs whose backends used
    different GPU counts. The geomean row holds NaN under the capacity columns:
    averaging capacities across scenarios of different sizes means nothing.
    """
    caps = capacity_rows(summary)
    if caps.empty:
        return pd.DataFrame()
    table = caps.pivot(index="scenario", columns="backend", values="capacity_rps_per_gpu")
    table = table.reindex(index=ordered_scenarios(caps), columns=ordered_backends(caps))
    table = table.astype(float)
    others = [b for b in table.columns if b != BASELINE]
    if BASELINE in table.columns:
        for backend in others:
            table[f"gain_{backend}"] = capacity_gain(table[backend], table[BASELINE])
    geo = {c: np.nan for c in table.columns}
    for column in table.columns:
        if column.startswith("gain_"):
            geo[column] = geometric_mean(table[column])
    table.loc[GEOMEAN_ROW] = pd.Series(geo)
    table.index.name = "scenario"
    table.columns.name = None
    return table


def operating_points(summary: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """The point row standing for each (scenario, backend); see the module doc."""
    points = point_rows(summary)
    caps = capacity_rows(summary).set_index(["scenario", "backend"])
    chosen = []
    for (scenario, backend), probes in points.groupby(["scenario", "backend"], sort=False):
        probes = probes.sort_values("rate")
        capacity = _capacity_rate(caps, scenario, backend)
        if capacity > 0:
            below = probes[probes["rate"] <= capacity * (1 + 1e-9)]
            pick = below.iloc[-1] if len(below) else probes.iloc[0]
        else:
            passing = probes[probes["attainment"] >= threshold]
            pick = passing.iloc[-1] if len(passing) else probes.iloc[0]
        chosen.append(pick)
    if not chosen:
        return points.iloc[0:0]
    return pd.DataFrame(chosen).reset_index(drop=True)


def _capacity_rate(caps: pd.DataFrame, scenario: str, backend: str) -> float:
    """Total (not per GPU) capacity rate of a pair, or NaN without a capacity row."""
    if (scenario, backend) not in caps.index:
        return math.nan
    row = caps.loc[(scenario, backend)]
    rate = row.get("capacity_rps", math.nan)
    if rate is None or pd.isna(rate):
        rate = row["capacity_rps_per_gpu"] * row["gpus"]
    return float(rate)


def capacity_rate(summary: pd.DataFrame, scenario: str, backend: str) -> float:
    return _capacity_rate(capacity_rows(summary).set_index(["scenario", "backend"]),
                          scenario, backend)
