import math

import pandas as pd
import pytest

from slobench.report.gains import GEOMEAN_ROW, capacity_table, geometric_mean, operating_points
from slobench.report.run_dir import load_run


def test_geometric_mean_of_known_gains():
    assert geometric_mean([2.0, 8.0]) == pytest.approx(4.0)
    assert geometric_mean([1.5, 1.5, 1.5]) == pytest.approx(1.5)


def test_geometric_mean_skips_nan_and_is_nan_when_nothing_is_left():
    assert geometric_mean([2.0, math.nan, 8.0]) == pytest.approx(4.0)
    assert math.isnan(geometric_mean([math.nan]))
    assert math.isnan(geometric_mean([]))


def test_geometric_mean_is_zero_with_a_zero_gain_and_rejects_negatives():
    assert geometric_mean([2.0, 0.0]) == 0.0
    with pytest.raises(ValueError):
        geometric_mean([2.0, -1.0])


def test_capacity_table_has_gains_against_vllm_and_a_geomean_row(make_run):
    run = load_run(make_run(
        scenarios=("chatbot", "coding"), backends=("vllm", "slos"), gpus=2,
        capacity={("chatbot", "vllm"): 2.0, ("chatbot", "slos"): 4.0,
                  ("coding", "vllm"): 4.0, ("coding", "slos"): 32.0}))
    table = capacity_table(run.summary)
    assert list(table.columns) == ["vllm", "slos", "gain_slos"]
    assert table.loc["chatbot", "vllm"] == pytest.approx(1.0)  # 2 req/s over 2 GPUs
    assert table.loc["chatbot", "gain_slos"] == pytest.approx(2.0)
    assert table.loc["coding", "gain_slos"] == pytest.approx(8.0)
    assert table.loc[GEOMEAN_ROW, "gain_slos"] == pytest.approx(4.0)
    assert math.isnan(table.loc[GEOMEAN_ROW, "vllm"])


def test_capacity_table_leaves_gain_empty_when_vllm_capacity_is_zero(make_run):
    run = load_run(make_run(capacity={("chatbot", "vllm"): 2.0}))
    summary = run.summary.copy()
    is_cap = (summary["kind"] == "capacity") & (summary["scenario"] == "chatbot") & (
        summary["backend"] == "vllm")
    summary.loc[is_cap, "capacity_rps_per_gpu"] = 0.0
    table = capacity_table(summary)
    assert math.isnan(table.loc["chatbot", "gain_slos"])
    assert table.loc[GEOMEAN_ROW, "gain_slos"] == pytest.approx(table.loc["coding", "gain_slos"])


def test_operating_point_is_the_probe_at_capacity(make_run):
    run = load_run(make_run(capacity={("chatbot", "vllm"): 3.0}))
    ops = operating_points(run.summary, 0.9).set_index(["scenario", "backend"])
    assert ops.loc[("chatbot", "vllm"), "rate"] == pytest.approx(3.0)


def test_operating_point_of_fixed_rate_run_is_highest_passing_rate():
    summary = pd.DataFrame({
        "scenario": "chatbot", "backend": "vllm", "kind": "point",
        "rate": [1.0, 2.0, 3.0], "attainment": [0.99, 0.95, 0.5],
        "capacity_rps_per_gpu": math.nan, "gpus": 1,
    })
    ops = operating_points(summary, 0.9)
    assert ops["rate"].tolist() == [2.0]
