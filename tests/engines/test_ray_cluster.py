"""On a real Ray cluster started here: probes on Ray give the serial results exactly;
replicas on fake GPUs get disjoint GPU sets; a killed driver leaves no server.

Ray binds every interface whatever it is told, so the cluster and every command that
talks to it run in a network namespace holding only loopback (`unshare -n`, then
`nsenter` into it). Every process of that namespace is stopped by PID at the end.
Marked `ray`: its own bounded CI step (`.ci/run`), not in the quick suite.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fake_gpu import alive, fake_vllm_python, server_records

pytestmark = pytest.mark.ray
pytest.importorskip("ray")

PORT = 6380               # the namespace is ours: no port is taken there
ADDRESS = f"127.0.0.1:{PORT}"
TIMING = ("run_id", "wall_s", "sched_overhead_p50_ms", "sched_overhead_p99_ms",
          "sched_overhead_max_ms", "replan_overhead_p50_ms", "replan_overhead_p99_ms",
          "replan_overhead_max_ms")
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


class Cluster:
    def __init__(self, holder: subprocess.Popen[bytes], netns: str) -> None:
        self.holder, self.netns = holder, netns

    def command(self, *args: str) -> list[str]:
        """`args` run inside the cluster's network namespace."""
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--", *args]

    def members(self) -> list[int]:
        """Every process in the namespace: the ones this test started, and only those."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.readlink(entry / "ns" / "net") == self.netns:
                        pids.append(int(entry.name))
                except OSError:
                    continue
        return pids


# Stops the namespace's processes if pytest itself is killed (no teardown runs then):
# it blocks on a pipe from pytest, whose end the kernel closes however pytest dies.
REAPER = """
import os, signal, sys, time
netns = sys.argv[1]
if netns == os.readlink("/proc/self/ns/net"):
    sys.exit("refusing to reap the host's own network namespace")
sys.stdin.read()
def members():
    out = []
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and os.readlink(f"/proc/{name}/ns/net") == netns:
                out.append(int(name))
        except OSError:
            pass
    return out
for sig in (signal.SIGTERM, signal.SIGKILL):
    for pid in members():
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    time.sleep(10)
"""


def _stop(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    ray = str(Path(sys.executable).with_name("ray"))
    temp = tempfile.mkdtemp(prefix="sbray", dir="/tmp")    # short: Ray's socket paths
    start = (f"ip link set lo up && exec {ray} start --head --block --port {PORT} "
             f"--num-cpus 4 --num-gpus 4 --include-dashboard=false --disable-usage-stats "
             f"--temp-dir {temp}")
    log = Path(temp) / "start.log"
    with log.open("wb") as out:
        holder = subprocess.Popen(["unshare", "-n", "sh", "-c", start], stdout=out,
                                  stderr=subprocess.STDOUT, env=ENV, start_new_session=True)
    # Right after Popen the child may not have entered its new namespace yet: reading its
    # netns then would name the host's, and the clean-up below would kill every process
    # on the machine. Wait until it differs from ours.
    own = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + 30
    netns = own
    while netns == own:
        assert holder.poll() is None and time.monotonic() < deadline, "unshare -n failed"
        time.sleep(0.05)
        netns = os.readlink(f"/proc/{holder.pid}/ns/net")
    # Teardown stops every process of that namespace: it must not be this one's.
    assert netns != os.readlink("/proc/self/ns/net"), "unshare -n made no namespace"
    here = Cluster(holder, netns)
    reaper = subprocess.Popen([sys.executable, "-c", REAPER, netns], stdin=subprocess.PIPE,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text(errors="replace"):
            assert holder.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.5)
        yield here
    finally:
        _stop(here.members(), signal.SIGTERM)
        deadline = time.monotonic() + 20
        while here.members() and time.monotonic() < deadline:
            time.sleep(0.5)
        _stop(here.members(), signal.SIGKILL)
        holder.wait(timeout=30)
        time.sleep(1)
        left = here.members()
        shutil.rmtree(temp, ignore_errors=True)
        reaper.kill()
        reaper.wait()
        assert not left, f"Ray processes left: {left}"


def _slobench(cluster: Cluster, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(cluster.command(sys.executable, "-m", "slobench", *args),
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _summary(folder: Path) -> pd.DataFrame:
    frame = pd.read_parquet(folder / "summary.parquet")
    return frame.drop(columns=[c for c in TIMING if c in frame])


def test_probes_on_ray_give_the_serial_results(cluster: Cluster, tmp_path: Path) -> None:
    args = ["run", "-s", "coding,summarization", "--requests", "40", "--no-report"]
    serial = subprocess.run([sys.executable, "-m", "slobench", *args, "--out",
                             str(tmp_path / "serial")], env=ENV, capture_output=True,
                            text=True, timeout=300)
    assert serial.returncode == 0, serial.stdout + serial.stderr
    on_ray = _slobench(cluster, *args, "--out", str(tmp_path / "ray"), "--ray-address",
                       ADDRESS, "--workers", "3")
    out, _ = on_ray.communicate(timeout=300)
    assert on_ray.returncode == 0, out
    pd.testing.assert_frame_equal(_summary(tmp_path / "serial"), _summary(tmp_path / "ray"))
    calls = [pd.read_parquet(tmp_path / n / "requests.parquet").drop(columns=["run_id"])
             for n in ("serial", "ray")]
    pd.testing.assert_frame_equal(*calls)
    meta = json.loads((tmp_path / "ray" / "run.json").read_text())
    assert meta["executor"]["kind"] == "ray" and meta["executor"]["slots"] == 3


REPLICAS = ["run", "--engine", "vllm", "--ray-address", ADDRESS, "--gpus", "4", "--tp", "2",
            "-s", "coding", "--backends", "vllm", "--warm-requests", "0", "--no-report"]


def test_replicas_on_ray_get_disjoint_gpus_and_bring_their_files(cluster: Cluster,
                                                                  tmp_path: Path) -> None:
    python = fake_vllm_python(tmp_path / "vllm")
    run = _slobench(cluster, *REPLICAS, "--vllm-python", str(python), "--rates", "2",
                    "--requests", "3", "--out", str(tmp_path / "out"))
    out, _ = run.communicate(timeout=300)
    assert run.returncode == 0, out
    records = server_records(tmp_path / "vllm")
    gpu_sets = [set(r["env"]["CUDA_VISIBLE_DEVICES"].split(",")) for r in records]
    assert len(gpu_sets) == 2 and all(len(s) == 2 for s in gpu_sets)
    assert gpu_sets[0].isdisjoint(gpu_sets[1])
    for rec in records:
        argv = rec["argv"]
        assert argv[argv.index("--tensor-parallel-size") + 1] == "2"
        assert argv[argv.index("--host") + 1] == "127.0.0.1"      # the node's address
    hardware = json.loads((tmp_path / "out" / "run.json").read_text())["hardware"]
    assert len(hardware["ray_replicas"]) == 2
    # The replica's engine file, written on its node, was copied into the run folder.
    assert hardware["engine_info"]["vllm_version"] == "0.32.0"
    assert (tmp_path / "out" / "server-1.log").read_text().startswith("$ ")
    assert not any(alive(r["pid"]) for r in records)


def test_a_killed_driver_leaves_no_server_on_the_cluster(cluster: Cluster,
                                                         tmp_path: Path) -> None:
    python = fake_vllm_python(tmp_path / "vllm")
    # A probe far longer than the test: the driver is killed in the middle of the run.
    run = _slobench(cluster, *REPLICAS, "--vllm-python", str(python), "--rates", "0.05",
                    "--requests", "50", "--out", str(tmp_path / "out"))
    try:
        deadline = time.monotonic() + 180
        while len(server_records(tmp_path / "vllm")) < 2:
            assert run.poll() is None, run.communicate()[0]
            assert time.monotonic() < deadline, "the replicas did not start"
            time.sleep(0.5)
        time.sleep(3)
        pids = [r["pid"] for r in server_records(tmp_path / "vllm")]
        assert all(alive(p) for p in pids)
    finally:
        run.kill()
        run.communicate()
    deadline = time.monotonic() + 90
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(alive(p) for p in pids)
