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

BASELINE = "vllm"
SCENARIO_ORDER = ["chatbot", "coding", "summarization", "tool_calling", "reasoning", "mixed"]
GEOMEAN_ROW = "geomean"


def geometric_mean(values: Iterable[float]) -> float:
    """Geometric mean; NaN entries are skipped (a scenario without a vLLM baseline).

    A zero gives 0.0 (the limit: a backend with no capacity somewhere has no
    headline gain); negative values raise ValueError since no gain is negative.
    All-NaN or empty gives NaN.
    """
    kept = [float(v) for v in values if not math.isnan(float(v))]
    if any(v < 0 for v in kept):
        raise ValueError(f"geometric mean of negative values is undefined: {kept}")
    if not kept:
        return math.nan
    if any(v == 0 for v in kept):
        return 0.0
    return float(math.exp(sum(math.log(v) for v in kept) / len(kept)))


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
    """One capacity row per (scenario, backend); the last wins if a run repeated one."""
    rows = summary[summary["kind"] == "capacity"]
    return rows.drop_duplicates(["scenario", "backend"], keep="last")


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
        base = table[BASELINE].where(table[BASELINE] > 0)  # no baseline capacity: no gain
        for backend in others:
            table[f"gain_{backend}"] = table[backend] / base
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
