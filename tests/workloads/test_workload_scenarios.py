"""Scenario files: the six shipped ones load; malformed ones give one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from slobench.core.errors import UserInputError
from slobench.workloads.generate import generate
from slobench.workloads.scenario import (
    SCENARIO_NAMES,
    list_scenarios,
    load_scenario,
    scenario_summary,
)

GOOD = """\
name = "tiny"
description = "a small valid scenario"
source = "made up for a test"

[arrival]
kind = "gamma"
burstiness = 0.5

[[classes]]
name = "chat"
kind = "single"
prompt = { dist = "fixed", value = 100 }

  [[classes.stages]]
  name = "chat"
  ttft_slowdown = 5.0
  tpot_ms = 100.0
  output = { dist = "fixed", value = 20 }
"""


def write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_six_scenarios_load_in_order_and_generate():
    scenarios = list_scenarios()
    assert [s.name for s in scenarios] == list(SCENARIO_NAMES)
    for scenario in scenarios:
        workload = generate(scenario, 50, seed=0, max_context=16384)
        assert len(workload.sessions) == 50, scenario.name
        assert workload.dropped_too_long == 0
        summary = scenario_summary(scenario)
        assert {"name", "description", "stages", "arrival", "source"} <= summary.keys()
        assert summary["source"] and summary["stages"]
        for stage in summary["stages"]:
            assert {"name", "ttft_slowdown", "tpot_ms", "class"} <= stage.keys()
            assert stage["ttft_slowdown"] > 0 and stage["tpot_ms"] > 0


def test_shipped_slos_match_the_spec():
    slos = {(st["class"], st["name"]): (st["ttft_slowdown"], st["tpot_ms"])
            for s in list_scenarios() for st in scenario_summary(s)["stages"]}
    assert slos[("chatbot", "chat")] == (5.0, 100.0)
    assert slos[("coding", "completion")] == (5.0, 50.0)
    assert slos[("summarization", "summary")] == (3.0, 100.0)
    assert slos[("tool_calling", "intermediate_call")] == (3.0, 50.0)
    assert slos[("tool_calling", "final_answer")] == (3.0, 100.0)
    assert slos[("reasoning", "thinking")] == (3.0, 50.0)
    assert slos[("reasoning", "response")] == (3.0, 100.0)
    assert {s.name: s.arrival.kind for s in list_scenarios()} == {
        "chatbot": "burst", "coding": "burst", "summarization": "poisson",
        "tool_calling": "poisson", "reasoning": "poisson", "mixed": "poisson"}


def test_a_path_loads_and_the_env_var_moves_bare_names(tmp_path, monkeypatch):
    path = write(tmp_path, GOOD, "tiny.toml")
    assert load_scenario(str(path)).name == "tiny"
    monkeypatch.setenv("SLOBENCH_WORKLOADS_DIR", str(tmp_path))
    assert load_scenario("tiny").arrival.kind == "gamma"
    with pytest.raises(UserInputError, match="no such scenario"):
        load_scenario("coding")


def test_mixing_includes_classes_from_sibling_files(tmp_path):
    write(tmp_path, GOOD, "tiny.toml")
    mixed = write(tmp_path, """\
name = "m"
description = "d"
source = "s"
[arrival]
kind = "poisson"
[[classes]]
from = "tiny"
weight = 2.0
""", "m.toml")
    scenario = load_scenario(str(mixed))
    assert [(c.name, c.weight) for c in scenario.classes] == [("chat", 2.0)]
    loop = write(tmp_path, mixed.read_text().replace('"tiny"', '"loop"'), "loop.toml")
    with pytest.raises(UserInputError) as err:
        load_scenario(str(loop))
    assert "classes[0].from" in str(err.value) and "includes itself" in str(err.value)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        # a stage without its TPOT SLO
        ("  tpot_ms = 100.0\n", "", "classes[0].stages[0].tpot_ms"),
        # a stage without its TTFT SLO
        ("  ttft_slowdown = 5.0\n", "", "classes[0].stages[0].ttft_slowdown"),
        ("tpot_ms = 100.0", "tpot_ms = 'fast'", "classes[0].stages[0].tpot_ms"),
        ("ttft_slowdown = 5.0", "ttft_slowdown = true", "classes[0].stages[0].ttft_slowdown"),
        ('kind = "gamma"', 'kind = "hawkes"', "arrival.kind"),
        ("burstiness = 0.5", "burstiness = -2.0", "arrival.burstiness"),
        ('name = "tiny"', 'name = "tiny"\nowner = "me"', "owner"),
        ("  tpot_ms = 100.0\n", "  tpot_ms = 100.0\n  tpot = 3\n", "classes[0].stages[0].tpot"),
        ('kind = "single"', 'kind = "batch"', "classes[0].kind"),
        ('dist = "fixed", value = 100', 'dist = "normal", value = 100', "classes[0].prompt.dist"),
        ('description = "a small valid scenario"\n', "", "description"),
        ("prompt = { dist", "weight = 0\nprompt = { dist", "classes[0].weight"),
    ],
)
def test_malformed_files_name_the_file_and_field(tmp_path, old, new, field):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(UserInputError) as err:
        load_scenario(str(path))
    message = str(err.value)
    assert message.startswith(f"{path}: {field}: "), message
    assert "\n" not in message


def test_wrong_stage_names_for_a_kind_are_refused(tmp_path):
    text = GOOD.replace('kind = "single"', 'kind = "reasoning"')
    with pytest.raises(UserInputError) as err:
        load_scenario(str(write(tmp_path, text)))
    assert "classes[0].stages" in str(err.value)


def test_toml_syntax_error_names_the_file(tmp_path):
    path = write(tmp_path, GOOD + "\n[arrival\n")
    with pytest.raises(UserInputError) as err:
        load_scenario(str(path))
    assert str(err.value).startswith(f"{path}: TOML syntax error")


def test_trace_lengths_need_a_trace_arrival(tmp_path):
    text = (GOOD.replace('kind = "single"', 'kind = "single"\nlengths = "trace"')
            .replace("prompt = { dist = \"fixed\", value = 100 }\n", "")
            .replace("  output = { dist = \"fixed\", value = 20 }\n", ""))
    with pytest.raises(UserInputError) as err:
        load_scenario(str(write(tmp_path, text)))
    assert "classes[0].lengths" in str(err.value)
