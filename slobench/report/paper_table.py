"""The `--paper` study's table: SLOs-Serve's gain per scenario, each on the paper's own
deployment, against vLLM, vLLM with speculative decoding, Sarathi-Serve and the best of
them, beside the paper's figure where it is known; geometric means over scenarios.

"vs best" takes the best baseline that ran in the scenario; "vs best (vllm, sarathi)" is
the paper's headline definition (the better of vLLM and Sarathi-Serve).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from slobench.report.gains import (
    best_of,
    capacity_rows,
    gain_text,
    geometric_mean,
    pair_gain,
    scenario_sort_key,
    shown_capacity,
)
from slobench.workloads.paper import PaperSetting

TARGET = "slos"
BASELINES = ("vllm", "vllm_spec", "sarathi")
PAPER_BEST = ("vllm", "sarathi")      # the paper's headline compares with the better of these
# SPEC §1 and §3: the paper's headline, the geometric mean over its six scenarios against
# the better of vLLM and Sarathi-Serve (4xA100). Per-scenario figures are not known here.
PAPER_HEADLINE = 2.2
GAIN_COLUMNS = (*(f"vs {b}" for b in BASELINES), "vs best", "vs best (vllm, sarathi)")
GEOMEAN = "geometric mean"


@dataclass(frozen=True)
class ScenarioStudy:
    """One scenario's run on its paper setting: the run's summary.parquet rows."""

    scenario: str
    setting: PaperSetting
    summary: pd.DataFrame


@dataclass(frozen=True)
class Gain:
    relation: str          # gain_relation's sign ('' for a measurement)
    value: float           # NaN when undefined (the baseline did not run or has no capacity)
    against: str = ""      # the baseline it is taken against (for the "best" columns)

    def text(self) -> str:
        shown = gain_text(self.relation, self.value)
        return f"{shown} ({self.against})" if self.against and shown != "–" else shown


def scenario_gains(caps: pd.DataFrame, scenario: str) -> dict[str, Gain]:
    """GAIN_COLUMNS for one scenario. caps: capacity_rows indexed by (scenario, backend)."""
    out: dict[str, Gain] = {}
    if (scenario, TARGET) not in caps.index:
        return {c: Gain("", math.nan) for c in GAIN_COLUMNS}
    mine = caps.loc[(scenario, TARGET)]
    for backend in BASELINES:
        out[f"vs {backend}"] = (Gain(*pair_gain(mine, caps.loc[(scenario, backend)]))
                                if (scenario, backend) in caps.index else Gain("", math.nan))
    for column, pool in (("vs best", BASELINES), ("vs best (vllm, sarathi)", PAPER_BEST)):
        best = best_of(caps, scenario, pool)
        out[column] = (Gain(*pair_gain(mine, caps.loc[(scenario, best)]), against=best)
                       if best is not None else Gain("", math.nan))
    return out


def paper_table(studies: Sequence[ScenarioStudy]) -> pd.DataFrame:
    """One row per scenario (in SPEC order) and a geometric-mean row.

    Columns: scenario, model, deployment, every backend's capacity in sessions/s per GPU
    as shown (`<backend>`, text with its bound) and as a number (`<backend> per GPU`),
    GAIN_COLUMNS (Gain objects), `paper` (the paper's figure or NaN).
    """
    rows = []
    for study in sorted(studies, key=lambda s: scenario_sort_key(s.scenario)):
        caps = capacity_rows(study.summary).set_index(["scenario", "backend"], drop=False)
        st = study.setting
        row: dict[str, object] = {
            "scenario": study.scenario, "model": st.model,
            "deployment": f"{st.gpus}x {st.hardware}"
                          f"{f'-{st.gpu_memory_gib:g}GB' if st.gpu_memory_gib else ''} tp{st.tp}",
            "drafts": st.spec_tokens or "–"}
        for backend in (*BASELINES, TARGET):
            key = (study.scenario, backend)
            ran = key in caps.index
            row[backend] = shown_capacity(caps.loc[key]) if ran else "–"
            row[f"{backend} per GPU"] = (float(caps.loc[key]["capacity_rps_per_gpu"]) if ran
                                         else math.nan)
        row.update(scenario_gains(caps, study.scenario))
        row["paper"] = st.gain if st.gain is not None else math.nan
        rows.append(row)
    geo: dict[str, object] = {"scenario": GEOMEAN, "model": "", "deployment": "", "drafts": "",
                              **{b: "" for b in (*BASELINES, TARGET)},
                              **{f"{b} per GPU": math.nan for b in (*BASELINES, TARGET)}}
    for column in GAIN_COLUMNS:
        values = [r[column].value for r in rows if isinstance(r[column], Gain)]
        geo[column] = Gain("", geometric_mean(values))
    geo["paper"] = PAPER_HEADLINE
    return pd.DataFrame([*rows, geo])


def plain_rows(table: pd.DataFrame) -> list[dict[str, object]]:
    """The table as JSON-ready dicts: gains as numbers (None where undefined), with their
    relation and baseline beside them."""
    out = []
    for rec in table.to_dict("records"):
        row: dict[str, object] = {}
        for key, value in rec.items():
            if isinstance(value, Gain):
                finite = math.isfinite(value.value)
                row[key] = value.value if finite else None
                row[f"{key} relation"] = value.relation
                if value.against:
                    row[f"{key} baseline"] = value.against
            elif isinstance(value, float) and not math.isfinite(value):
                row[key] = None
            else:
                row[key] = value
        out.append(row)
    return out
