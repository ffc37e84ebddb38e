"""Every bad input of issue 13 ends with exit 2 and one line naming the option or file,
before any engine or server starts (SPEC §11); nothing prints a traceback."""

from __future__ import annotations

import errno
import pathlib
from pathlib import Path

import pytest
from cli_inproc import invoke

import slobench.engines.vllm.engine as real

# --engine vllm would start real vLLM servers: validation must stop it before that.
RUN = ["run", "-s", "coding", "--engine", "vllm", "--backends", "vllm"]


@pytest.fixture(autouse=True)
def no_server_may_start(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    started: list[str] = []

    class NoEngine:
        def __init__(self, *args: object, **kwargs: object) -> None:
            started.append("VllmEngine")
            raise AssertionError("a real engine was started before validation ended")

    monkeypatch.setattr(real, "VllmEngine", NoEngine)
    monkeypatch.setattr(real, "find_vllm_python", lambda *_: started.append("vllm") or None)
    return started


@pytest.mark.parametrize(("args", "named"), [
    (["--tolerance", "0"], "--tolerance"),
    (["--tolerance", "-0.1"], "--tolerance"),
    (["--routing", "nosuch"], "--routing"),
    (["--seed", "-1"], "--seed"),
    (["--slo-scale", "nan"], "--slo-scale"),
    (["--rates", "nan"], "--rates"),
    (["--rates", "inf"], "--rates"),
    (["--rates", "1,x"], "--rates"),
    (["--request-timeout", "0"], "--request-timeout"),
    (["--request-timeout", "-3"], "--request-timeout"),
    (["--startup-timeout", "-5"], "--startup-timeout"),
    (["--threshold", "0"], "--threshold"),
    (["--min-rate", "0"], "--min-rate"),
    (["--spec-tokens", "-1"], "--spec-tokens"),
    (["--spec-alpha", "1.0"], "--spec-alpha"),
    (["--spec-alpha", "-0.1"], "--spec-alpha"),
    (["--failure-budget", "1.5"], "--failure-budget"),
    (["--gpus", "4", "--tp", "3"], "--tp"),
    (["--replicas", "0"], "--replicas"),
    (["--router", "never"], "--router"),
    (["--max-context", "0"], "--max-context"),
    (["--min-probe-s", "inf"], "--min-probe-s"),
    (["--backends", "vllm,nosuch"], "--backends"),
    (["--seed", "abc"], "--seed"),
    (["--no-such-option"], "--no-such-option"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_bad_run_option_exits_2_naming_it_before_any_server(args: list[str], named: str,
                                                              no_server_may_start: list[str]
                                                              ) -> None:
    ran = invoke(*RUN, *args)
    assert ran.code == 2
    assert ran.one_line_error().startswith(f"slobench: {named}: ")
    assert no_server_may_start == []


def test_an_empty_scenario_exits_2_naming_the_option() -> None:
    ran = invoke("run", "--scenario", "")
    assert ran.code == 2
    assert ran.one_line_error().startswith("slobench: --scenario: ")


@pytest.mark.parametrize(("args", "named"), [
    (["--replicas", "0"], "--replicas"),
    (["--router", "never"], "--router"),
    (["--port", "99999"], "--port"),
    (["--port", "0"], "--port"),
    (["--tp", "0"], "--tp"),
    (["--gpus", "4", "--tp", "3"], "--tp"),
    (["--startup-timeout", "-5"], "--startup-timeout"),
    (["--backend", "sarathi"], "--backend"),
    (["--slo-scale", "inf"], "--slo-scale"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_serve_checks_its_options_before_looking_for_vllm(args: list[str], named: str,
                                                          no_server_may_start: list[str]) -> None:
    ran = invoke("serve", *args)
    assert ran.code == 2
    assert ran.one_line_error().startswith(f"slobench: {named}: ")
    assert no_server_may_start == []


def test_out_that_is_a_file_exits_2_for_run_serve_and_compare(tmp_path: Path,
                                                              make_sim_run: Path) -> None:
    a_file = tmp_path / "taken"
    a_file.write_text("not a folder")
    for args in (["run", "-s", "coding", "--out", a_file],
                 ["serve", "--out", a_file],
                 ["compare", make_sim_run, "--out", a_file / "compare.html"]):
        ran = invoke(*args)
        assert ran.code == 2, args
        assert ran.one_line_error().startswith("slobench: --out: "), args
    assert a_file.read_text() == "not a folder"


def test_unwritable_out_exits_2_for_run_serve_and_compare(make_sim_run: Path) -> None:
    # /sys refuses new entries even to root (chmod would not stop root).
    for args in (["run", "-s", "coding", "--out", "/sys/slobench-test/run"],
                 ["serve", "--out", "/sys/slobench-test/serve"],
                 ["compare", make_sim_run, "--out", "/sys/slobench-test/c.html"]):
        ran = invoke(*args)
        assert ran.code == 2, args
        line = ran.one_line_error()
        assert line.startswith("slobench: --out: cannot write in /sys/slobench-test"), line


def test_out_on_a_read_only_filesystem_exits_2(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    read_only = tmp_path / "ro"
    real_mkdir = pathlib.Path.mkdir

    def mkdir(self: Path, *args: object, **kwargs: object) -> None:
        if self == read_only or read_only in self.parents:
            raise OSError(errno.EROFS, "Read-only file system")
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    ran = invoke("run", "-s", "coding", "--out", read_only / "run")
    assert ran.code == 2
    assert "--out: cannot write in" in ran.one_line_error()
    assert "Read-only file system" in ran.one_line_error()


def test_a_workload_that_is_not_utf8_exits_2_naming_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "x"\ndescription = "caf\xe9"\n'.encode("latin-1"))
    ran = invoke("run", "-s", path, "--out", tmp_path / "run")
    assert ran.code == 2
    assert ran.one_line_error().startswith(f"slobench: {path}: line 2: not UTF-8")


@pytest.mark.parametrize(("args", "named"), [
    (["--min-attainment", "2"], "--min-attainment"),
    (["--min-attainment", "nan"], "--min-attainment"),
    (["--max-capacity-drop", "-1"], "--max-capacity-drop"),
    (["--max-p99-ttft-increase", "-0.5"], "--max-p99-ttft-increase"),
])
def test_gate_limits_out_of_range_exit_2(args: list[str], named: str,
                                         make_sim_run: Path) -> None:
    ran = invoke("gate", make_sim_run, "--baseline", make_sim_run, *args)
    assert ran.code == 2
    assert ran.one_line_error().startswith(f"slobench: {named}: ")


def test_profile_refuses_an_existing_file_before_starting_vllm(
        tmp_path: Path, no_server_may_start: list[str]) -> None:
    existing = tmp_path / "profile.json"
    existing.write_text("{}")
    ran = invoke("profile", "--out", existing)
    assert ran.code == 2
    assert ran.one_line_error().startswith("slobench: --out: ")
    assert no_server_may_start == []


def test_gate_of_a_capacity_run_against_fixed_rates_exits_2(tmp_path: Path,
                                                            make_sim_run: Path) -> None:
    fixed = tmp_path / "fixed"
    assert invoke("run", "-s", "coding", "--requests", "30", "--rates", "1", "--backends",
                  "vllm", "--gpus", "1", "--tp", "1", "--out", fixed, "--no-report").code == 0
    ran = invoke("gate", make_sim_run, "--baseline", fixed)
    assert ran.code == 2
    assert "ran a capacity search but the baseline" in ran.one_line_error()


def test_fidelity_on_a_run_without_client_records_exits_2_naming_the_folder(
        tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text("{}")
    (tmp_path / "summary.parquet").write_bytes(b"")
    (tmp_path / "steps").mkdir()
    ran = invoke("fidelity", str(tmp_path))
    assert ran.code == 2
    assert ran.one_line_error().startswith(f"slobench: {tmp_path}: has no requests.parquet")
