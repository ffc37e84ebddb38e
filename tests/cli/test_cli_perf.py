"""`slobench perf` as a user runs it: a real process, its JSON, its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from slobench.perf import build_perf_model, default_catalog, load_specs_file
from slobench.perf.breakdown import PART_NAMES

SLOBENCH = [sys.executable, "-m", "slobench.cli"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SLOBENCH, *args], capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.mark.parametrize(("model", "hardware", "tp", "extra"), [
    ("llama-3-8b", "h100", 1, []),
    ("opt-13b", "a100", 2, ["--profile", "roofline", "--decode", "32",
                            "--context", "40000", "--draft-steps", "2"]),
])
def test_perf_json_parts_sum_to_the_simulators_step_time(
        model: str, hardware: str, tp: int, extra: list[str]) -> None:
    out = run_cli("perf", "--model", model, "--hardware", hardware, "--tp", str(tp),
                  "--tokens", "1,128,2048" if not extra else "32,128,2048", *extra, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    profile = extra[extra.index("--profile") + 1] if "--profile" in extra else "auto"
    simulator = build_perf_model(model, hardware, tp, profile)   # the campaign's factory
    assert data["perf_model"]["name"] == simulator.name
    assert len(data["steps"]) == 3
    for step in data["steps"]:
        assert list(step["parts"]) == list(PART_NAMES)
        total = sum(p["seconds"] for p in step["parts"].values())
        expected = simulator.step_time(step["prefill_tokens"], step["decode_tokens"],
                                       step["context_tokens"], step["draft_steps"])
        assert total == step["step_time_s"] == expected
        assert all(p["bound"] for p in step["parts"].values())


def test_perf_shows_a_fitted_profile_as_one_part() -> None:
    out = run_cli("perf", "--model", "opt-13b", "--hardware", "a100", "--tp", "2",
                  "--tokens", "512", "--json")
    assert out.returncode == 0, out.stderr
    step = json.loads(out.stdout)["steps"][0]
    assert list(step["parts"]) == ["profile"]
    expected = build_perf_model("opt-13b", "a100", 2).step_time(512, 0, 512)
    assert step["parts"]["profile"]["seconds"] == step["step_time_s"] == expected


def test_perf_table_lists_every_part_and_the_step() -> None:
    out = run_cli("perf", "--model", "llama-3-8b", "--hardware", "h100", "--tokens", "1,2048")
    assert out.returncode == 0, out.stderr
    for word in (*PART_NAMES, "step", "compute", "memory"):
        assert word in out.stdout


@pytest.mark.parametrize(("args", "option"), [
    (["--model", "gpt-9"], "--model"),
    (["--hardware", "tpu"], "--hardware"),
    (["--tokens", "1,x"], "--tokens"),
    (["--tokens", "0,128"], "--tokens"),
    (["--tokens", "-5"], "--tokens"),
    (["--model", "opt-13b", "--tp", "3"], "--tp"),
    (["--tp", "0"], "--tp"),
    (["--tokens", "16", "--decode", "32"], "--decode"),
    (["--context", "-1"], "--context"),
])
def test_bad_perf_input_exits_2_with_one_line_naming_the_option(args: list[str],
                                                               option: str) -> None:
    out = run_cli("perf", *args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{option}:" in lines[0]
    assert "Traceback" not in out.stderr


SPECS = Path(__file__).parents[1] / "perf" / "data" / "user_specs.toml"  # profile at tp 1


@pytest.mark.parametrize(("tp", "perf_model"), [(1, "fitted"), (2, "roofline")])
def test_perf_takes_hardware_and_models_from_a_specs_file(tp: int, perf_model: str) -> None:
    out = run_cli("perf", "--specs", str(SPECS), "--model", "tiny-llama", "--hardware",
                  "MI300X", "--tp", str(tp), "--tokens", "1,512", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    catalog = load_specs_file(SPECS, default_catalog().copy())   # what the file defines
    expected = build_perf_model("tiny-llama", "mi300x", tp, catalog=catalog)
    assert data["perf_model"]["name"] == expected.name
    assert (list(data["steps"][0]["parts"]) == ["profile"]) == (perf_model == "fitted")
    for step in data["steps"]:
        assert step["step_time_s"] == expected.step_time(step["prefill_tokens"],
                                                         step["decode_tokens"],
                                                         step["context_tokens"])


def test_a_name_from_a_specs_file_is_unknown_without_it() -> None:
    out = run_cli("perf", "--model", "tiny-llama")
    assert out.returncode == 2 and "--model: tiny-llama: unknown" in out.stderr


@pytest.mark.parametrize(("text", "where"), [
    ("[hardware.x]\nmem_bw = 1e12\nmem_bytes = 1e9\n", "hardware.x.peak_flops"),
    ("[models.m]\nlayers = 2\n", "models.m."),
    ("[hardware\n", "not valid TOML"),
    (None, "cannot read"),
])
def test_bad_specs_file_exits_2_with_one_line_naming_file_and_field(
        tmp_path: Path, text: str | None, where: str) -> None:
    path = tmp_path / "specs.toml"
    if text is not None:
        path.write_text(text)
    out = run_cli("perf", "--specs", str(path))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and where in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_run_takes_hardware_and_models_from_a_specs_file(tmp_path: Path) -> None:
    out = run_cli("run", "--specs", str(SPECS), "--model", "tiny-llama", "--hardware",
                  "MI300X", "--gpus", "1", "--tp", "1", "--scenario", "coding",
                  "--backends", "vllm", "--rates", "1", "--requests", "20", "--no-report",
                  "--quiet", "--out", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    catalog = load_specs_file(SPECS, default_catalog().copy())
    expected = build_perf_model("tiny-llama", "mi300x", 1, catalog=catalog)
    assert meta["perf_model"]["name"] == expected.name
    assert meta["hardware"]["gpu"].lower() == "mi300x"      # the name as the file spells it
