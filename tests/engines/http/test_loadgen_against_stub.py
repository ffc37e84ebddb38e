"""The open-loop load generator against a stub OpenAI server with known timings.

The stub (a separate process, real HTTP on 127.0.0.1) sends the first token TTFT_S
after a request arrives and the others GAP_S apart, and logs when it really wrote each
token (same monotonic clock as the client). The stub's TTFT of a request is its first
write minus the request's arrival at the stub; its TPOT, (last write - first write) /
(tokens - 1). What the load generator measures (TTFT from the *scheduled* send, so
dispatch lag and both transport legs count as error) must match it: no token seen before
the stub wrote it, no request sent after the stub got it; the median error within 2 ms
and the 99th within half a token gap (a token stamped one chunk late fails). How close
the 99th comes on a given host is a figure `benchmarks/bench_loadgen_vs_vllm.py` prints:
both transport legs alone took ~1 ms (median) on a 2-core EPYC, so a fixed 2 ms p99 bound
measured the host, not the client. Failures must become statuses, not crashes.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from slobench.core.outcome import Status
from slobench.core.request import SchedRequest
from slobench.engines.http import LoadGenConfig, run_open_loop
from slobench.engines.vllm.launcher import free_port
from slobench.workloads.entities import CallSpec, OutputPhase, SessionSpec, Workload
from tests.support.stub_server import running_stub

TTFT_S, GAP_S = 0.040, 0.010
# Errors (s) the client must stay under: medians, then p99s within half a token gap.
CLIENT_BOUNDS = {"ttft_p50": 0.002, "lag_p50": 0.001,
                 "ttft": GAP_S / 2, "tpot": GAP_S / 2, "lag": GAP_S / 2}
STUB_BOUNDS = {"stub_ttft_vs_nominal": 0.005, "tpot_vs_nominal": 0.002}


@pytest.fixture(scope="module")
def stub_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stub") / "served.jsonl"


@pytest.fixture(scope="module")
def stub_url(stub_log: Path) -> Iterator[str]:
    with running_stub(TTFT_S, GAP_S, stub_log) as url:
        yield url


def _workload(n: int, rate: float, out_tokens: int, calls: int = 1,
              tool_delay_s: float = 0.0) -> Workload:
    spec = CallSpec("call", 16, (OutputPhase("out", out_tokens, 50.0),), 5.0, tool_delay_s)
    sessions = tuple(SessionSpec(i, i / rate, "stub", (spec,) * calls) for i in range(n))
    return Workload("stub", sessions, rate=rate)


def _factory(session: SessionSpec, index: int, call: CallSpec, arrival: float) -> SchedRequest:
    return SchedRequest(rid=session.session_id * 100 + index, arrival_s=arrival,
                        prompt_tokens=call.prompt_tokens, output_tokens=call.output_tokens,
                        expected_output=call.output_tokens, ttft_slo_s=1.0,
                        phase_tpots=((1, 0.05),))


def _cfg(url: str, model: str = "stub", timeout_s: float = 30.0) -> LoadGenConfig:
    return LoadGenConfig(urls=[url], model=model, prompt=lambda n, _seed: [7] * n,
                         request_timeout_s=timeout_s)


def _served(stub_log: Path) -> dict[float, dict]:
    rows = [json.loads(line) for line in stub_log.read_text().splitlines()]
    return {round(r["arrival_s"], 6): r for r in rows if r["arrival_s"] is not None}


def _accuracy_errors(stub_url: str, stub_log: Path, n: int, tokens: int) -> dict[str, float]:
    """One probe at a moderate rate; errors (s) against the stub's logged truth."""
    stub_log.write_text("")
    res = run_open_loop(_workload(n, 25.0, tokens), _factory, _cfg(stub_url))
    assert len(res.outcomes) == n
    assert all(o.status == Status.OK for o in res.outcomes), res.outcomes[0].error
    assert all(len(o.token_times) == tokens for o in res.outcomes)
    served = _served(stub_log)
    truth = [served[round(o.scheduled_s, 6)] for o in res.outcomes]
    # Causality on the one clock both share (the client's times are since its t0).
    for o, t in zip(res.outcomes, truth, strict=True):
        t0 = t["arrival_monotonic_s"] - t["arrival_s"]
        assert t0 + o.actual_send_s <= t["recv_s"] + 1e-6, (o, t)
        assert all(t0 + seen >= sent - 1e-6
                   for seen, sent in zip(o.token_times, t["sent_s"], strict=True)), (o, t)
    ttft = np.array([o.first_token_s - o.scheduled_s for o in res.outcomes])
    tpot = np.array([(o.finish_s - o.first_token_s) / (tokens - 1) for o in res.outcomes])
    stub_ttft = np.array([t["sent_s"][0] - t["recv_s"] for t in truth])
    stub_tpot = np.array([(t["sent_s"][-1] - t["sent_s"][0]) / (tokens - 1) for t in truth])
    lag = np.array([o.actual_send_s - o.scheduled_s for o in res.outcomes])
    assert lag.min() >= 0
    ttft_err, tpot_err = np.abs(ttft - stub_ttft), np.abs(tpot - stub_tpot)
    return {"ttft_p50": float(np.median(ttft_err)),
            "ttft": float(np.percentile(ttft_err, 99)),
            "tpot": float(np.percentile(tpot_err, 99)),
            "lag_p50": float(np.median(lag)),
            "lag": float(np.percentile(lag, 99)),
            "stub_ttft_vs_nominal": float(np.percentile(np.abs(stub_ttft - TTFT_S), 99)),
            "tpot_vs_nominal": float(np.percentile(np.abs(tpot - GAP_S), 99))}


def _exceeded(err: dict[str, float], bounds: dict[str, float]) -> list[str]:
    return [key for key, bound in bounds.items() if not err[key] < bound]


def test_ttft_tpot_match_the_stub(stub_url: str, stub_log: Path) -> None:
    # Timing on a shared CI machine: the best of up to 3 probes must hold the bounds
    # (a probe that another process starved of CPU says nothing about the client).
    attempts: list[dict[str, float]] = []
    for _ in range(3):
        attempts.append(_accuracy_errors(stub_url, stub_log, 150, 20))
        if not _exceeded(attempts[-1], CLIENT_BOUNDS):
            break
    best = min(attempts, key=lambda e: len(_exceeded(e, CLIENT_BOUNDS)))
    assert not _exceeded(best, CLIENT_BOUNDS), attempts
    # ... and the stub kept its promise, give or take asyncio's timer.
    assert not _exceeded(best, STUB_BOUNDS), attempts


def test_tokens_counted_not_chunks(stub_url: str) -> None:
    res = run_open_loop(_workload(5, 20.0, 9), _factory, _cfg(stub_url, "multi"))
    assert [len(o.token_times) for o in res.outcomes] == [9] * 5
    assert all(o.status == Status.OK for o in res.outcomes)


def test_chained_calls_wait_for_previous_plus_tool_delay(stub_url: str) -> None:
    res = run_open_loop(_workload(3, 10.0, 5, calls=2, tool_delay_s=0.1), _factory,
                        _cfg(stub_url))
    by = {(o.session_id, o.call_index): o for o in res.outcomes}
    for sid in range(3):
        first, second = by[(sid, 0)], by[(sid, 1)]
        assert second.scheduled_s == pytest.approx(first.finish_s + 0.1)
        assert second.actual_send_s >= second.scheduled_s


@pytest.mark.parametrize("model, text", [("http500", "HTTP 500"),
                                         ("drop", "stream dropped"),
                                         ("abort", "aborted")])
def test_failures_become_error_statuses(stub_url: str, model: str, text: str) -> None:
    res = run_open_loop(_workload(4, 20.0, 10), _factory, _cfg(stub_url, model))
    assert len(res.outcomes) == 4
    for o in res.outcomes:
        assert o.status == Status.ERROR
        assert text in o.error
        assert math.isnan(o.finish_s)


def test_timeout_and_refused_connection() -> None:
    port = free_port()          # nothing listens there
    res = run_open_loop(_workload(2, 20.0, 5), _factory, _cfg(f"http://127.0.0.1:{port}"))
    assert [o.status for o in res.outcomes] == [Status.ERROR] * 2
    assert all(o.error for o in res.outcomes)


def test_request_timeout_is_a_timeout_status(stub_url: str) -> None:
    res = run_open_loop(_workload(2, 20.0, 50), _factory, _cfg(stub_url, timeout_s=0.1))
    assert [o.status for o in res.outcomes] == [Status.TIMEOUT] * 2


def test_abort_check_stops_the_probe_and_marks_the_rest(stub_url: str) -> None:
    started = time.monotonic()
    res = run_open_loop(_workload(40, 5.0, 5), _factory, _cfg(stub_url),
                        abort_check=lambda: ("server died" if time.monotonic() - started > 1.0
                                             else None))
    assert res.aborted == "server died"
    assert len(res.outcomes) == 40
    assert any(o.status == Status.OK for o in res.outcomes)
    assert sum(o.error.startswith("not sent") for o in res.outcomes) > 20
