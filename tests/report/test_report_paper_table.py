"""The --paper table: SLOs-Serve's gain against each baseline, the best of them, and the
paper's headline definition (the better of vLLM and Sarathi-Serve); geometric means."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from slobench.report.gains import best_of, capacity_rows, pair_gain
from slobench.report.paper_table import GEOMEAN, PAPER_HEADLINE, ScenarioStudy, paper_table
from slobench.workloads.paper import PaperSetting

SETTING = PaperSetting("opt-13b", 2, spec_tokens=4)


def summary(scenario: str, caps: dict[str, float], bounds: dict[str, str] | None = None,
            gpus: int = 4) -> pd.DataFrame:
    """Capacity rows as a run writes them (capacities in sessions/s per GPU)."""
    rows = []
    for backend, cap in caps.items():
        bound = (bounds or {}).get(backend, "measured")
        rows.append({"scenario": scenario, "backend": backend, "kind": "capacity",
                     "gpus": gpus, "capacity_rps": cap * gpus, "capacity_rps_per_gpu": cap,
                     "capacity_bound": bound, "capacity_bound_sessions_per_s_per_gpu":
                     cap if bound != "below" else 0.25,
                     "capacity_bound_calls_per_s_per_gpu": cap, "calls_per_session": 1.0})
    return pd.DataFrame(rows)


def indexed(frame: pd.DataFrame) -> pd.DataFrame:
    return capacity_rows(frame).set_index(["scenario", "backend"], drop=False)


def test_best_of_picks_the_highest_capacity_that_ran() -> None:
    caps = indexed(summary("chatbot", {"vllm": 1.0, "vllm_spec": 3.0, "sarathi": 2.0}))
    assert best_of(caps, "chatbot", ["vllm", "vllm_spec", "sarathi"]) == "vllm_spec"
    assert best_of(caps, "chatbot", ["vllm", "sarathi"]) == "sarathi"
    assert best_of(caps, "chatbot", ["vllm_spec", "nosuch"]) == "vllm_spec"
    assert best_of(caps, "chatbot", ["nosuch"]) is None


def test_pair_gain_per_gpu_and_undefined_without_baseline_capacity() -> None:
    mine = summary("c", {"slos": 3.0}, gpus=4).iloc[0]
    base = summary("c", {"vllm": 1.5}, gpus=2).iloc[0]
    assert pair_gain(capacity_rows(pd.DataFrame([mine])).iloc[0],
                     capacity_rows(pd.DataFrame([base])).iloc[0]) == ("", 2.0)
    zero = capacity_rows(summary("c", {"vllm": 0.0}, {"vllm": "below"})).iloc[0]
    relation, gain = pair_gain(capacity_rows(pd.DataFrame([mine])).iloc[0], zero)
    assert relation == "?" and math.isnan(gain)


def test_gain_vs_each_and_vs_best_per_scenario_and_geometric_means() -> None:
    studies = [
        ScenarioStudy("coding", SETTING, summary(
            "coding", {"vllm": 1.0, "vllm_spec": 4.0, "sarathi": 2.0, "slos": 8.0})),
        ScenarioStudy("chatbot", PaperSetting("opt-13b", 2, gain=1.5), summary(
            "chatbot", {"vllm": 2.0, "sarathi": 1.0, "slos": 3.0})),      # no vllm_spec
    ]
    table = paper_table(studies).set_index("scenario")
    assert list(table.index) == ["chatbot", "coding", GEOMEAN]         # SPEC order
    coding, chatbot, geo = table.loc["coding"], table.loc["chatbot"], table.loc[GEOMEAN]
    assert [coding[c].value for c in ("vs vllm", "vs vllm_spec", "vs sarathi")] == [8, 2, 4]
    assert coding["vs best"].value == 2.0 and coding["vs best"].against == "vllm_spec"
    # The paper's headline definition leaves speculative vLLM out.
    assert coding["vs best (vllm, sarathi)"].value == 4.0
    assert coding["vs best (vllm, sarathi)"].against == "sarathi"
    assert math.isnan(chatbot["vs vllm_spec"].value) and chatbot["vllm_spec"] == "–"
    assert chatbot["vs best"].value == 1.5 and chatbot["vs best"].against == "vllm"
    assert chatbot["paper"] == 1.5 and math.isnan(coding["paper"])
    assert geo["vs best"].value == pytest.approx(math.sqrt(2.0 * 1.5))
    assert geo["vs vllm_spec"].value == pytest.approx(2.0)            # NaN left out
    assert geo["paper"] == PAPER_HEADLINE
    assert coding["slos per GPU"] == 8.0 and coding["slos"] == "8"


def test_a_baseline_at_the_search_edge_marks_the_gain() -> None:
    frame = summary("coding", {"vllm": 1.0, "sarathi": 2.0, "slos": 8.0},
                    {"slos": "at_least"})
    row = paper_table([ScenarioStudy("coding", SETTING, frame)]).iloc[0]
    assert row["vs best"].relation == "≥"
    assert row["vs best"].text() == "≥ ×4.00 (sarathi)"
