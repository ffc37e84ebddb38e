"""An unexpected error is one line and the path of a full log (exit 1), an interrupt is
exit 130: never a traceback on the terminal (SPEC §11)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from cli_inproc import invoke

import slobench.campaign.campaign as campaign
import slobench.workloads.scenario as scenario


def test_an_internal_error_is_one_line_with_the_path_of_a_full_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))   # where the log goes

    def broken() -> list:
        raise RuntimeError("a bug, not the user's input")

    monkeypatch.setattr(scenario, "list_scenarios", broken)
    ran = invoke("scenarios")
    assert ran.code == 1
    line = ran.one_line_error()
    assert "internal error: RuntimeError: a bug, not the user's input" in line
    log = Path(re.search(r"full log: (\S+)\)$", line).group(1))
    text = log.read_text()
    assert log.parent == tmp_path / "slobench-logs"
    assert "slobench scenarios" in text and "Traceback" in text and "in broken" in text


def test_an_interrupted_run_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(campaign, "run_campaign", interrupted)
    ran = invoke("run", "-s", "coding", "--out", tmp_path / "run")
    assert ran.code == 130
    assert ran.one_line_error().startswith("slobench: interrupted")
