"""Output as a CI log shows it: 80 columns, nothing cut to "…"; user strings (paths)
printed literally, never read as rich markup."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_inproc import invoke

import slobench.cli.app as cli_app


@pytest.fixture(autouse=True)
def eighty_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    for console in (cli_app.console, cli_app.err_console):
        monkeypatch.setattr(console, "width", 80)


def _fits(text: str) -> None:
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80


@pytest.mark.parametrize("command", ["run", "serve", "gate", "compare", "profile"])
def test_help_fits_80_columns_and_names_every_option(command: str) -> None:
    ran = invoke(command, "--help")
    assert ran.code == 0
    _fits(ran.out)
    command_obj = cli_app.typer.main.get_command(cli_app.app).commands[command]
    for param in command_obj.params:
        for opt in param.opts:
            if opt.startswith("--"):
                assert opt in ran.out, opt


def test_run_gate_and_compare_tables_fit_80_columns(tmp_path: Path, make_sim_run: Path) -> None:
    new = tmp_path / "new"
    ran = invoke("run", "-s", "coding", "--requests", "30", "--backends", "vllm", "--gpus",
                 "1", "--tp", "1", "--out", new, "--no-report")
    assert ran.code == 0
    _fits(ran.out)
    gated = invoke("gate", new, "--baseline", make_sim_run, "--min-attainment", "0.99")
    assert gated.code == 1
    _fits(gated.out)
    assert "REGRESSION" in gated.out and "capacity/GPU" in gated.out
    compared = invoke("compare", make_sim_run, new)
    assert compared.code == 0
    _fits(compared.out)
    assert "coding / vllm" in compared.out


def test_paths_are_printed_literally(tmp_path: Path) -> None:
    missing = tmp_path / "[red]nope" / "w.toml"
    ran = invoke("run", "-s", missing)
    assert ran.code == 2
    assert f"slobench: {missing}: workload file not found" in ran.err
    out = tmp_path / "[bold]out"
    ran = invoke("run", "-s", "coding", "--requests", "10", "--rates", "1", "--backends", "vllm",
                 "--gpus", "1", "--tp", "1", "--no-report", "--out", out)
    assert ran.code == 0
    assert f"results: {out}" in " ".join(ran.out.split())


def test_a_scenario_name_with_brackets_is_printed_as_written(tmp_path: Path) -> None:
    workload = tmp_path / "w.toml"
    workload.write_text(
        'name = "[red]x"\ndescription = "d"\nsource = "s"\n[arrival]\nkind = "poisson"\n'
        '[[classes]]\nname = "c"\nkind = "single"\nprompt = { dist = "fixed", value = 10 }\n'
        '[[classes.stages]]\nname = "s"\nttft_slowdown = 5.0\ntpot_ms = 50.0\n'
        'output = { dist = "fixed", value = 10 }\n')
    ran = invoke("run", "-s", workload, "--rates", "1", "--requests", "5", "--backends",
                 "vllm", "--gpus", "1", "--tp", "1", "--no-report", "--out", tmp_path / "run")
    assert ran.code == 0, ran.text
    assert ran.out.count("[red]x") >= 3          # progress bar, probe and latency tables
