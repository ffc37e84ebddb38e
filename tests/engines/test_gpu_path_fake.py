"""The GPU path (`--engine vllm --gpus 4 --tp 2`) on a box with a fake `nvidia-smi` and a
fake CUDA vLLM that records what each server was given and serves the stub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_gpu import (
    CPU_BUILD,
    H100,
    fake_nvidia_smi,
    fake_vllm_python,
    gpu_uuid,
    server_records,
)

from slobench.core.errors import UserInputError
from slobench.engines.vllm.build import Deployment, model_for_vllm, plan_deployment
from slobench.engines.vllm.launcher import SERVER_MODULE

RUN = ["run", "--engine", "vllm", "-s", "coding", "--backends", "vllm", "--rates", "2",
       "--requests", "3", "--warm-requests", "0", "--no-report"]


def _slobench(tmp: Path, *args: str, gpus_listed: int = 4,
              visible: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PATH"] = f"{fake_nvidia_smi(tmp / 'bin', gpus_listed)}{os.pathsep}{env['PATH']}"
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    return subprocess.run([sys.executable, "-m", "slobench", *args], env=env, cwd=tmp,
                          capture_output=True, text=True, timeout=300)


def _devices(tmp: Path) -> list[str]:
    return sorted(r["env"]["CUDA_VISIBLE_DEVICES"] for r in server_records(tmp / "vllm"))


def test_four_gpus_at_tp2_start_two_servers_on_disjoint_pairs(tmp_path: Path) -> None:
    python = fake_vllm_python(tmp_path / "vllm")
    ran = _slobench(tmp_path, *RUN, "--gpus", "4", "--tp", "2", "--vllm-python", str(python),
                    "--out", str(tmp_path / "out"))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    records = server_records(tmp_path / "vllm")
    assert len(records) == 2
    assert _devices(tmp_path) == ["0,1", "2,3"]
    for rec in records:
        argv, env = rec["argv"], rec["env"]
        assert argv[:2] == ["-m", SERVER_MODULE]
        assert argv[argv.index("--tensor-parallel-size") + 1] == "2"
        assert argv[argv.index("--model") + 1] == "facebook/opt-13b"
        assert "--dtype" not in argv                      # CPU-only flags stay off
        assert not {"VLLM_CPU_KVCACHE_SPACE", "VLLM_CPU_OMP_THREADS_BIND"} & set(env)
        assert "HF_HUB_OFFLINE" not in env                # a hub id must be downloadable
    hardware = json.loads((tmp_path / "out" / "run.json").read_text())["hardware"]
    assert hardware["gpu_model"] == H100
    assert hardware["vllm_version"] == "0.32.0"
    assert hardware["engine_info"]["vllm_version"] == "0.32.0"    # the replica's own word
    assert hardware["device"] == "cuda" and hardware["gpu_sets"] == [["0", "1"], ["2", "3"]]


def test_a_job_given_gpus_4_to_7_serves_on_them(tmp_path: Path) -> None:
    python = fake_vllm_python(tmp_path / "vllm")
    ran = _slobench(tmp_path, *RUN, "--gpus", "4", "--tp", "2", "--vllm-python", str(python),
                    "--out", str(tmp_path / "out"), gpus_listed=8, visible="4,5,6,7")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert _devices(tmp_path) == ["4,5", "6,7"]


def test_more_gpus_than_visible_is_bad_input_and_starts_nothing(tmp_path: Path) -> None:
    python = fake_vllm_python(tmp_path / "vllm")
    ran = _slobench(tmp_path, *RUN, "--gpus", "8", "--tp", "2", "--vllm-python", str(python),
                    "--out", str(tmp_path / "out"))
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "--gpus: asks for 8 GPUs but 4 are visible" in ran.stderr
    assert server_records(tmp_path / "vllm") == []


def _plan(tmp: Path, monkeypatch: pytest.MonkeyPatch, listed: int, visible: str | None,
          build: dict[str, str] | None = None, gpus: int = 2, tp: int = 1) -> Deployment:
    monkeypatch.setenv("PATH", f"{fake_nvidia_smi(tmp / 'bin', listed)}{os.pathsep}"
                               f"{os.environ['PATH']}")
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    python = fake_vllm_python(tmp / "vllm", build)
    return plan_deployment(str(python), gpus=gpus, tp=tp, cpu_replicas=3)


def test_gpu_uuids_from_the_scheduler_are_passed_through(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    given = f"{gpu_uuid(6)},{gpu_uuid(2)}"
    plan = _plan(tmp_path, monkeypatch, 8, given)
    assert plan.gpu_sets == [[gpu_uuid(6)], [gpu_uuid(2)]]
    assert plan.gpu_model == H100


def test_the_vllm_build_decides_the_device_not_nvidia_smi(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    plan = _plan(tmp_path, monkeypatch, 4, None, build=CPU_BUILD)
    assert plan.device == "cpu" and plan.replicas == 3 and plan.gpu_sets == []


def test_a_cuda_build_without_a_visible_gpu_is_bad_input(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserInputError, match="no GPU is visible"):
        _plan(tmp_path, monkeypatch, 4, "")
    with pytest.raises(UserInputError, match="no GPU is visible"):
        _plan(tmp_path, monkeypatch, 0, None)


def test_known_model_names_become_hugging_face_ids(tmp_path: Path) -> None:
    assert model_for_vllm("opt-13b") == "facebook/opt-13b"
    assert model_for_vllm("OPT-30B") == "facebook/opt-30b"
    assert model_for_vllm("Qwen/Qwen3-0.6B") == "Qwen/Qwen3-0.6B"
    local = tmp_path / "opt-13b"
    local.mkdir()
    assert model_for_vllm(str(local)) == str(local)


def test_offline_mode_only_for_a_model_folder_here(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from slobench.engines.vllm.launcher import LaunchSpec, VllmServers

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    python = fake_vllm_python(tmp_path / "vllm")
    folder = tmp_path / "model"
    folder.mkdir()
    offline = {}
    for model in (str(folder), "facebook/opt-125m"):
        spec = LaunchSpec(python=str(python), model=model, device="cuda", gpu_sets=[["3"]],
                          log_dir=tmp_path / "logs", startup_timeout_s=60, stop_grace_s=2)
        with VllmServers(spec) as servers:
            port = servers.servers[0].port
        rec = next(r for r in server_records(tmp_path / "vllm") if str(port) in r["argv"])
        assert rec["env"]["CUDA_VISIBLE_DEVICES"] == "3"
        offline[model] = rec["env"].get("HF_HUB_OFFLINE")
    assert offline == {str(folder): "1", "facebook/opt-125m": None}
