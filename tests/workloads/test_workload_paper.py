"""The `[paper]` table of scenario files: the paper's deployment per scenario."""

from __future__ import annotations

from pathlib import Path

import pytest

from slobench.core.errors import UserInputError
from slobench.workloads.paper import PaperSetting, parse_paper
from slobench.workloads.scenario import list_scenarios, load_scenario

MINIMAL = '''
name = "tiny"
description = "d"
source = "s"
[arrival]
kind = "poisson"
[[classes]]
name = "c"
kind = "single"
prompt = { dist = "lognormal", median = 100, sigma = 0.5 }
  [[classes.stages]]
  name = "completion"
  ttft_slowdown = 5.0
  tpot_ms = 100.0
  output = { dist = "lognormal", median = 20, sigma = 0.5 }
'''


def test_every_shipped_scenario_names_its_paper_deployment() -> None:
    settings = {s.name: s.paper for s in list_scenarios()}
    assert all(isinstance(p, PaperSetting) for p in settings.values())
    assert settings["tool_calling"].model == "toolllama-2-7b"
    assert settings["reasoning"].model == "deepseek-r1-distill-qwen-1.5b"
    assert not settings["reasoning"].drafts                   # the paper did not draft there
    opt = {n: p for n, p in settings.items() if p.model.startswith("opt-")}
    assert set(opt) == {"chatbot", "coding", "summarization", "mixed"}
    assert {(p.model, p.tp) for p in opt.values()} == {("opt-6.7b", 1), ("opt-13b", 2),
                                                      ("opt-30b", 4)}
    for name, p in settings.items():
        assert p.gpus == 4 and p.hardware == "a100" and p.gpu_memory_gib == 40, name
        assert p.drafts == (name != "reasoning"), name
        assert p.draft_model == ("opt-125m" if p.drafts else ""), name


def test_defaults_and_no_table() -> None:
    assert parse_paper(None, "f.toml") is None
    p = parse_paper({"model": "opt-13b", "tp": 2}, "f.toml")
    assert p == PaperSetting(model="opt-13b", tp=2)
    assert (p.gpus, p.hardware, p.spec_tokens, p.gain) == (4, "a100", 0, None)


@pytest.mark.parametrize(("table", "field"), [
    ({"tp": 2}, "paper.model"),
    ({"model": "opt-13b"}, "paper.tp"),
    ({"model": "opt-13b", "tp": 0}, "paper.tp"),
    ({"model": "opt-13b", "tp": 2, "gpus": 3}, "paper.gpus"),
    ({"model": "opt-13b", "tp": 1, "spec_alpha": 1.0}, "paper.spec_alpha"),
    ({"model": "opt-13b", "tp": 1, "spec_tokens": -1}, "paper.spec_tokens"),
    ({"model": "opt-13b", "tp": 1, "gpu_memory_gib": 0}, "paper.gpu_memory_gib"),
    ({"model": "opt-13b", "tp": 1, "gain": "big"}, "paper.gain"),
    ({"model": "opt-13b", "tp": 1, "modle": "x"}, "paper.modle"),
])
def test_bad_tables_name_the_file_and_field(table: dict, field: str) -> None:
    with pytest.raises(UserInputError, match=f"^f.toml: {field}: "):
        parse_paper(table, "f.toml")


def test_a_scenario_file_carries_its_table(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(MINIMAL)
    assert load_scenario(str(path)).paper is None
    path.write_text(MINIMAL + '[paper]\nmodel = "opt-6.7b"\ntp = 1\nspec_tokens = 2\n')
    assert load_scenario(str(path)).paper == PaperSetting("opt-6.7b", 1, spec_tokens=2)
    path.write_text(MINIMAL + '[paper]\nmodel = "opt-6.7b"\ntp = "one"\n')
    with pytest.raises(UserInputError, match=r"tiny\.toml: paper\.tp: expected an integer"):
        load_scenario(str(path))
