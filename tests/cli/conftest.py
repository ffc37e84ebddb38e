"""Fixtures for the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_inproc import invoke


@pytest.fixture(scope="session")
def make_sim_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small capacity run on the simulator, made once (read-only for the tests)."""
    out = tmp_path_factory.mktemp("sim") / "run"
    ran = invoke("run", "-s", "coding", "--requests", "30", "--backends", "vllm",
                 "--gpus", "1", "--tp", "1", "--out", out, "--no-report")
    assert ran.code == 0, ran.text
    return out
