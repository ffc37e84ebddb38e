"""`run --paper`: each scenario resolved to the paper's deployment, checked before any
probe, run as an ordinary run of its own, and summed up in paper.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slobench.campaign.config import RunConfig
from slobench.campaign.paper import paper_backends, paper_config, plan_paper_runs, run_paper
from slobench.core.errors import UserInputError
from slobench.perf.hardware import GIB
from slobench.workloads.paper import PaperSetting
from slobench.workloads.scenario import load_scenario

TINY = (Path(__file__).parents[2] / "workloads" / "chatbot.toml").read_text().split("[paper]")[0]


def test_each_scenario_resolves_to_its_paper_deployment(tmp_path: Path) -> None:
    cfg = RunConfig.build(scenarios=["all"], out=tmp_path, requests=50, seed=3)
    out, runs = plan_paper_runs(cfg)
    assert out == tmp_path
    got = {r.scenario: r.cfg for r in runs}
    assert list(got) == ["chatbot", "coding", "summarization", "tool_calling", "reasoning",
                         "mixed"]
    for name, sub in got.items():
        paper = load_scenario(name).paper
        assert paper is not None
        assert (sub.model, sub.tp, sub.gpus, sub.sim.hardware) == (paper.model, paper.tp,
                                                               paper.gpus, paper.hardware)
        assert (sub.spec_tokens, sub.spec_alpha) == (paper.spec_tokens, paper.spec_alpha)
        assert sub.scenarios == [name] and sub.out == tmp_path / name
        assert (sub.requests, sub.seed) == (50, 3)                # the rest as asked
        assert sub.sim.hardware_spec().mem_bytes == 40 * GIB
    assert got["reasoning"].backends == ["vllm", "sarathi", "slos"]    # it did not draft
    assert got["chatbot"].backends == ["vllm", "vllm_spec", "sarathi", "slos"]
    # The workloads stay the scenarios' own (not cut to OPT's 2,048-token context).
    assert {sub.max_context for sub in got.values()} == {cfg.max_context}


def test_paper_backends_follow_drafting() -> None:
    assert paper_backends(PaperSetting("opt-13b", 2, spec_tokens=3)) == [
        "vllm", "vllm_spec", "sarathi", "slos"]
    assert paper_backends(PaperSetting("opt-13b", 2)) == ["vllm", "sarathi", "slos"]


def test_config_without_paper_memory_is_the_catalog_gpu() -> None:
    sub = paper_config(RunConfig.build(scenarios=["x"]), PaperSetting("opt-13b", 2), "x",
                       Path("o"))
    assert sub.sim.hardware_spec().mem_bytes == 80 * GIB and sub.sim.profile == "auto"


@pytest.mark.parametrize(("table", "problem"), [
    ("", "paper: missing"),
    ('[paper]\nmodel = "nosuch"\ntp = 1\n', "paper: model: nosuch: unknown"),
    ('[paper]\nmodel = "opt-30b"\ntp = 1\ngpus = 1\ngpu_memory_gib = 40\n',
     "leave no room for the KV cache"),
])
def test_bad_settings_fail_before_anything_runs(tmp_path: Path, table: str,
                                               problem: str) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(TINY + table)
    cfg = RunConfig.build(scenarios=[str(path)], out=tmp_path / "out")
    with pytest.raises(UserInputError, match=f"^{path}: .*{problem}"):
        plan_paper_runs(cfg)
    assert not (tmp_path / "out").exists()


def test_an_earlier_study_is_refused_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "paper.json").write_text("{}")
    cfg = RunConfig.build(scenarios=["coding"], out=tmp_path)
    with pytest.raises(UserInputError, match=r"^--out: .*earlier --paper study"):
        plan_paper_runs(cfg)
    assert plan_paper_runs(cfg, force=True)[1][0].scenario == "coding"


def test_a_small_study_runs_every_backend_and_writes_the_table(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(TINY + '[paper]\nmodel = "opt-6.7b"\ntp = 1\ngpus = 1\n'
                           'spec_tokens = 2\ngain = 1.7\n')
    out, runs = plan_paper_runs(RunConfig.build(scenarios=[str(path)], out=tmp_path / "study",
                                          requests=40))
    study = run_paper(out, runs)
    caps = study.writers[0].summary_frame()
    caps = caps[caps["kind"] == "capacity"]
    assert sorted(caps["backend"]) == ["sarathi", "slos", "vllm", "vllm_spec"]
    assert (caps["gpus"] == 1).all()
    doc = json.loads((out / "paper.json").read_text())
    assert doc["runs"] == {"chatbot": str(out / "chatbot")}
    first, geo = doc["table"]
    assert first["scenario"] == "chatbot" and first["paper"] == 1.7
    per_gpu = caps.set_index("backend")["capacity_rps_per_gpu"]
    assert first["vs vllm"] == pytest.approx(per_gpu["slos"] / per_gpu["vllm"])
    assert first["vs best"] == pytest.approx(per_gpu["slos"] / per_gpu[
        ["vllm", "vllm_spec", "sarathi"]].max())
    assert geo["scenario"] == "geometric mean" and geo["paper"] == 2.2
    assert (out / "chatbot" / "run.json").exists()
