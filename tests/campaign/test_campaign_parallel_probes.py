"""Probes run ahead in a pool (`--workers N`): the same rows, in the same order, as a
serial run; speculative bisection probes never change the answer; Ctrl-C leaves no
worker behind; and nothing imports Ray unless asked to."""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import slobench.campaign.campaign as campaign
import slobench.campaign.prefetch as prefetch
from slobench.campaign.config import RunConfig
from slobench.campaign.executors import ProbeDone, ProbeTask, run_probe_task
from slobench.campaign.prefetch import frontier, replay
from slobench.metrics.capacity import SearchConfig, capacity_search

# Measured on the machine as it ran (wall clock), not computed from the workload.
TIMING = ("run_id", "wall_s", "sched_overhead_p50_ms", "sched_overhead_p99_ms",
          "sched_overhead_max_ms", "replan_overhead_p50_ms", "replan_overhead_p99_ms",
          "replan_overhead_max_ms")


def _run(tmp: Path, name: str, **kw: object) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    cfg = RunConfig.build(scenarios=["coding", "summarization"], requests=40, out=tmp / name,
                    **kw)  # type: ignore[arg-type]
    campaign.run_campaign(cfg)
    summary = pd.read_parquet(tmp / name / "summary.parquet")
    calls = pd.read_parquet(tmp / name / "requests.parquet").drop(columns=["run_id"])
    meta = json.loads((tmp / name / "run.json").read_text())
    return summary.drop(columns=[c for c in TIMING if c in summary]), calls, meta


class ThreadPool:
    """A pool of threads standing in for worker processes (a probe is a pure function)."""

    kind = "threads"

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._pool = cf.ThreadPoolExecutor(slots)

    def submit(self, task: ProbeTask) -> cf.Future[ProbeDone]:
        return self._pool.submit(run_probe_task, task)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def test_two_worker_processes_give_exactly_the_serial_rows(tmp_path: Path) -> None:
    serial, serial_calls, _ = _run(tmp_path, "serial")
    parallel, parallel_calls, meta = _run(tmp_path, "parallel", workers=2)
    pd.testing.assert_frame_equal(serial, parallel)
    pd.testing.assert_frame_equal(serial_calls, parallel_calls)
    assert meta["executor"]["kind"] == "processes"
    assert meta["executor"]["probes"]["used"] == (serial["kind"] == "point").sum()


def test_speculative_probes_keep_the_sequential_answer(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    serial, _, _ = _run(tmp_path, "serial", backends=["slos"])
    # Six slots for one search: all but one probe in flight are speculative.
    monkeypatch.setattr(prefetch, "make_pool", lambda *_a: ThreadPool(6))
    ahead, _, meta = _run(tmp_path, "ahead", backends=["slos"], workers=6)
    pd.testing.assert_frame_equal(serial, ahead)
    probes = meta["executor"]["probes"]
    assert probes["computed"] > probes["used"] == (serial["kind"] == "point").sum()


def test_fixed_rates_run_ahead_in_their_order(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    serial, _, _ = _run(tmp_path, "serial", rates=[2.0, 0.5, 1.0])
    monkeypatch.setattr(prefetch, "make_pool", lambda *_a: ThreadPool(3))
    ahead, _, _ = _run(tmp_path, "ahead", rates=[2.0, 0.5, 1.0], workers=3)
    pd.testing.assert_frame_equal(serial, ahead)
    assert list(ahead["rate"][:3]) == [2.0, 0.5, 1.0]


def test_replay_runs_the_search_up_to_the_first_unmeasured_rate() -> None:
    cfg = SearchConfig(start_rate=4.0, rel_tol=0.1)

    def search(probe):
        return capacity_search(probe, cfg)

    assert replay(search, {}) == ([], 4.0)
    assert replay(search, {4.0: 0.95}) == ([4.0], 8.0)
    assert replay(search, {4.0: 0.95, 8.0: 0.2}) == ([4.0, 8.0], 6.0)
    assert replay(search, {4.0: None}) == ([4.0], None)      # the failure budget ended it
    ahead = frontier(search, {4.0: 0.95}, max_depth=2)
    # Next 8; after a pass 16, after a failure 6; one more level below each.
    assert ahead[8.0] == 0 and ahead[16.0] == 1 and ahead[6.0] == 1
    assert ahead[32.0] == 2 and ahead[12.0] == 2 and ahead[7.0] == 2 and ahead[5.0] == 2


class _Interrupt:
    def start(self, scenario: str, backend: str) -> None: ...
    def probing(self, scenario: str, backend: str, rate: float) -> None: ...
    def done(self, scenario: str, backend: str, capacity: float | None) -> None: ...
    def note(self, text: str) -> None: ...

    def probe(self, scenario: str, backend: str, rate: float, attainment: float) -> None:
        raise KeyboardInterrupt


def test_ctrl_c_in_a_parallel_run_stops_every_worker(tmp_path: Path) -> None:
    cfg = RunConfig.build(scenarios=["coding", "summarization"], requests=40, out=tmp_path / "r",
                    workers=2)
    with pytest.raises(KeyboardInterrupt):
        campaign.run_campaign(cfg, _Interrupt())
    # At once, not once the pool is garbage: its workers would end then anyway.
    assert multiprocessing.active_children() == []
    assert "aborted" in json.loads((tmp_path / "r" / "run.json").read_text())


IMPORTS_RAY = """
import sys
from slobench.cli.app import run_main
code = run_main(sys.argv[1:])
print("ray" in sys.modules, code)
"""


@pytest.mark.parametrize("extra", [[], ["--workers", "2"]])
def test_without_ray_address_nothing_imports_ray(tmp_path: Path, extra: list[str]) -> None:
    args = ["run", "-s", "coding", "--requests", "20", "--rates", "1,2", "--no-report",
            "--out", str(tmp_path / "r"), *extra]
    ran = subprocess.run([sys.executable, "-c", IMPORTS_RAY, *args], capture_output=True,
                         text=True, timeout=300)
    assert ran.stdout.strip().splitlines()[-1] == "False 0", ran.stdout + ran.stderr


@pytest.mark.parametrize(("args", "problem"), [
    (["--workers", "2", "--engine", "vllm"], "--workers: runs probes in parallel on --engine "
                                             "sim only"),
    (["--ray-address", "auto", "--engine", "openai", "--url", "http://127.0.0.1:9"],
     "--ray-address: --engine openai measures a server you run"),
    (["--workers", "0"], "--workers"),
])
def test_executor_options_that_cannot_work_are_bad_input(tmp_path: Path, args: list[str],
                                                         problem: str) -> None:
    ran = subprocess.run([sys.executable, "-m", "slobench", "run", "-s", "coding",
                          "--out", str(tmp_path / "r"), *args], capture_output=True,
                         text=True, timeout=120)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert problem in " ".join(ran.stderr.split())
    assert not (tmp_path / "r").exists()          # nothing started, no folder made
