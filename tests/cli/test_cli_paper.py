"""`slobench run --paper`: bad combinations are one line and exit 2 before anything runs;
a small study prints the gains against each baseline, the best, and geometric means."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_inproc import invoke

import slobench.cli.app as cli_app

CHATBOT = (Path(__file__).parents[2] / "workloads" / "chatbot.toml").read_text()


@pytest.mark.parametrize(("args", "named"), [
    (["--model", "opt-13b"], "--model"),
    (["--tp", "1"], "--tp"),
    (["--gpus", "2"], "--gpus"),
    (["--backends", "vllm"], "--backends"),
    (["--spec-tokens", "2"], "--spec-tokens"),
    (["--hardware", "h100"], "--hardware"),
    (["--engine", "vllm"], "--engine"),
    (["--rates", "1"], "--rates"),
])
def test_options_paper_sets_are_refused(tmp_path: Path, args: list[str], named: str) -> None:
    ran = invoke("run", "-s", "coding", "--paper", *args, "--out", tmp_path / "o")
    assert ran.code == 2
    assert ran.one_line_error().startswith(f"slobench: {named}: ")
    assert not (tmp_path / "o" / "coding").exists()


def test_a_scenario_without_a_paper_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(CHATBOT.split("[paper]")[0])
    ran = invoke("run", "-s", path, "--paper", "--out", tmp_path / "o")
    assert ran.code == 2
    assert ran.one_line_error() == (f"slobench: {path}: paper: missing: --paper runs each "
                                    "scenario on its file's [paper] table (model, tp, gpus, "
                                    "...)")


def test_vllm_spec_needs_drafts(tmp_path: Path) -> None:
    ran = invoke("run", "-s", "coding", "--backends", "vllm,vllm_spec", "--out", tmp_path)
    assert ran.code == 2
    assert ran.one_line_error().startswith("slobench: --backends: vllm_spec drafts")


def test_help_explains_paper() -> None:
    ran = invoke("run", "--help")
    assert ran.code == 0
    assert "--paper" in ran.out and "vllm_spec" in ran.out


@pytest.mark.parametrize("width", [150, 80])
def test_a_small_study_prints_every_gain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         width: int) -> None:
    monkeypatch.setattr(cli_app.console, "width", width)
    path = tmp_path / "mine.toml"
    path.write_text(CHATBOT.replace("tp = 2", "tp = 1").replace("gpus = 4", "gpus = 1"))
    ran = invoke("run", "-s", path, "--paper", "--requests", "30", "--no-report",
                 "--out", tmp_path / "study")
    assert ran.code == 0, ran.text
    assert "…" not in ran.out                           # folded, never cut
    assert (tmp_path / "study" / "paper.json").exists()
    assert (tmp_path / "study" / "chatbot" / "summary.parquet").exists()
    config = json.loads((tmp_path / "study" / "chatbot" / "run.json").read_text())["config"]
    # The simulator's unfinished calls at overload end no search under --paper.
    assert (config["failure_budget"], config["model"], config["tp"]) == (1.0, "opt-13b", 1)
    if width == 150:
        for text in ("vs vllm ", "vs vllm_spec", "vs sarathi", "vs best", "geometric mean",
                     "×2.20", "opt-13b"):
            assert text in ran.out, text


def test_a_failure_budget_given_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(CHATBOT.replace("tp = 2", "tp = 1").replace("gpus = 4", "gpus = 1"))
    ran = invoke("run", "-s", path, "--paper", "--requests", "20", "--no-report", "--quiet",
                 "--failure-budget", "0.4", "--out", tmp_path / "study")
    assert ran.code in (0, 1), ran.text
    config = json.loads((tmp_path / "study" / "chatbot" / "run.json").read_text())["config"]
    assert config["failure_budget"] == 0.4
