"""The hops a real run's SLOs-Serve calls took, read for its twin (campaign/host_delays.py)
from the replicas' request logs as the plugin writes them, and the client's records."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from slobench.campaign.host_delays import run_hops, run_host_delays
from slobench.engines.sim.host import HostDelays
from slobench.engines.vllm.step_files import read_plan_timelines


def _added(rid: str, call: str, t: float, mono: float, arrival: float, last: bool) -> dict:
    return {"event": "added", "id": rid, "t": t, "has_slo": True, "last_try": last,
            "xargs": {"call": call, "arrival_monotonic_s": mono, "arrival_s": arrival,
                      "ttft_slo_s": 0.1, "last_try": int(last)}}


def _write(folder: Path, replica: int, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"replica-{replica}.requests.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows))


def test_first_offer_forward_and_delivery_are_the_runs_medians(tmp_path: Path) -> None:
    plugin = tmp_path / "slos"
    # Call 0:0 (arrived at 100.0) is rejected on replica 0 at 100.03 and reaches
    # replica 1 at 100.11; calls 1:0 and 2:0 are served where they first land.
    _write(plugin, 0, [
        _added("a", "0:0", 100.02, 100.0, 0.0, False),
        {"event": "rejected", "id": "a", "t": 100.03, "call": "0:0", "why": "busy"},
        _added("b", "1:0", 101.01, 101.0, 1.0, False),
        {"event": "finished", "id": "b", "t": 101.5, "token_t": [101.04, 101.05]},
    ])
    _write(plugin, 1, [
        _added("c", "0:0", 100.11, 100.0, 0.0, True),
        {"event": "finished", "id": "c", "t": 100.5, "token_t": [100.15]},
        _added("d", "2:0", 102.03, 102.0, 2.0, False),
        {"event": "finished", "id": "d", "t": 102.5, "token_t": [102.06]},
    ])
    client = pd.DataFrame({
        "backend": ["slos"] * 3 + ["vllm"], "session_id": [0, 1, 2, 1],
        "call_index": [0, 0, 0, 0], "scheduled_send_s": [0.0, 1.0, 2.0, 1.0],
        "ttft_s": [0.154, 0.046, 0.065, 0.5]})
    host = run_host_delays(plugin, client)
    assert host.first_offer_s == pytest.approx(0.02)      # of 0.02, 0.01, 0.03
    assert host.forward_s == pytest.approx(0.08)
    assert host.delivery_s == pytest.approx(0.005)        # of 4, 6, 5 ms


def test_stock_vllms_hops_are_read_from_its_first_token_events(tmp_path: Path) -> None:
    stock = tmp_path / "vllm"
    _write(stock, 0, [
        {**_added("a", "0:0", 100.004, 100.0, 0.0, True), "last_try": None},
        {"event": "first_token", "id": "a", "t": 100.03},
        {**_added("b", "1:0", 101.008, 101.0, 1.0, True), "last_try": None},
        {"event": "first_token", "id": "b", "t": 101.05},
    ])
    client = pd.DataFrame({"backend": ["vllm", "vllm", "slos"], "session_id": [0, 1, 0],
                           "call_index": [0, 0, 0], "scheduled_send_s": [0.0, 1.0, 0.0],
                           "ttft_s": [0.033, 0.054, 0.9]})
    host = run_host_delays(stock, client, "vllm")
    assert host.first_offer_s == pytest.approx(0.006)     # of 4 and 8 ms
    assert host.forward_s == 0.0
    assert host.delivery_s == pytest.approx(0.0035)       # of 3 and 4 ms: slos' not read


def test_a_run_without_plugin_logs_has_no_hops(tmp_path: Path) -> None:
    assert run_host_delays(tmp_path / "slos", None) == HostDelays()


def _probe_logs(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """Coding at 1/s (core clock from 100) and 2/s (from 200). Call 0:0 arrives at 0 in
    both; call 2:0 is forwarded once in the second."""
    plugin = tmp_path / "slos"
    _write(plugin, 0, [
        _added("a", "0:0", 100.01, 100.0, 0.0, False),
        {"event": "finished", "id": "a", "t": 100.5, "token_t": [100.03]},
        _added("b", "1:0", 101.09, 101.0, 1.0, False),
        {"event": "finished", "id": "b", "t": 101.5, "token_t": [101.12]},
        _added("c", "0:0", 200.03, 200.0, 0.0, False),
        _added("e", "2:0", 200.52, 200.5, 0.5, False),
        {"event": "rejected", "id": "e", "t": 200.53, "call": "2:0", "why": "busy"},
    ])
    _write(plugin, 1, [
        _added("d", "2:0", 200.68, 200.5, 0.5, True),
        {"event": "finished", "id": "d", "t": 200.9, "token_t": [200.7]},
    ])
    client = pd.DataFrame({
        "backend": ["slos"] * 4, "scenario": ["coding"] * 4, "rate": [1.0, 1.0, 2.0, 2.0],
        "session_id": [0, 1, 0, 2], "call_index": [0, 0, 0, 0],
        "scheduled_send_s": [0.0, 1.0, 0.0, 0.5], "ttft_s": [0.036, 0.124, 0.05, 0.21],
        "finish_s": [0.5, 1.5, 0.4, 0.9]})
    return plugin, client


def test_each_probe_replays_its_own_calls_hops(tmp_path: Path) -> None:
    plugin, client = _probe_logs(tmp_path)
    hops = run_hops(plugin, client)
    one = hops.for_probe("coding", 1.0)
    assert one.first_offer((1, 0)) == pytest.approx(0.09)
    assert one.delivery((1, 0)) == pytest.approx(0.004)        # 124 ms less the core's 120
    two = hops.for_probe("coding", 2.0)
    assert two.first_offer((2, 0)) == pytest.approx(0.02)
    assert two.forward((2, 0), 0) == pytest.approx(0.15)
    assert two.first_offer((1, 0)) == hops.medians.first_offer_s   # not in that probe
    # Call 0:0 looks the same in both probes: it takes the medians in each.
    assert (0, 0) not in one.calls and (0, 0) not in two.calls
    # A rate the run did not probe takes the nearest probed one's, call by call.
    assert hops.for_probe("coding", 1.8).calls == two.calls
    assert hops.for_probe("chatbot", 1.0).calls == {}
    assert hops.window("coding", 1.0) == pytest.approx((100.0, 101.5))
    assert hops.window("coding", 2.0) == pytest.approx((200.0, 200.9))
    assert hops.calls == 2


def test_the_plan_timeline_is_read_per_replica_and_a_torn_row_skipped(tmp_path: Path) -> None:
    plugin = tmp_path / "slos"
    coef = [0.003, 2e-5, 3e-4, 5e-7, 2e-8, 0.0, 0.007]
    state = {"event": "perf_model", "coef": coef, "inflation": 1.4, "inflation_decode": 1.1,
             "inflation_one": 1.2, "inflation_central": 1.05}
    _write(plugin, 0, [{**state, "t": 102.0}, {**state, "t": 101.0, "inflation": 1.8},
                       {"event": "perf_model", "t": 103.0, "coef": coef[:2]}])
    _write(plugin, 1, [{**state, "t": 50.0}])
    timelines = read_plan_timelines(plugin)
    assert timelines[0].times == (101.0, 102.0)
    assert [s.prefill for s in timelines[0].states] == [1.8, 1.4]
    assert timelines[1].states[0].central == 1.05
