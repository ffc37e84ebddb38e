"""The SLO envelope, the rejection signal and the SSE reading, each defined once (core/,
engines/http/sse.py) and used by the load generator, the router and the plugin."""

from __future__ import annotations

import json

import pytest

from slobench.core import outcome
from slobench.core.request import LAST_TRY, SchedRequest, SloEnvelope, with_last_try
from slobench.engines.http import stream
from slobench.engines.http.openloop import slo_xargs
from slobench.engines.http.sse import chunk_tokens, event_tokens, parse_line
from slobench.engines.vllm.plugin import config
from slobench.engines.vllm.router import app

PHASES = ((1, 0.05), (11, 0.1))


def test_the_load_generator_sends_the_envelope_field_for_field() -> None:
    req = SchedRequest(0, 2.5, 64, 40, 30, 0.2, PHASES)
    xargs = slo_xargs(req, 100.0, "7:2")
    assert xargs == {"ttft_slo_s": 0.2, "arrival_s": 2.5, "arrival_monotonic_s": 102.5,
                     "tpot_phase_starts": [1, 11], "tpot_slos_s": [0.05, 0.1],
                     "expected_output_tokens": 30, "call": "7:2"}
    json.dumps(xargs)                                  # flat scalars and lists only


def test_the_envelope_round_trips_through_xargs() -> None:
    env = SloEnvelope(0.2, PHASES, 30, 2.5, 102.5, "7:2", last_try=False)
    assert SloEnvelope.from_xargs(json.loads(json.dumps(env.to_xargs()))) == env
    assert SloEnvelope.from_xargs({}) == SloEnvelope()
    assert SloEnvelope().to_xargs() == {}


@pytest.mark.parametrize("xargs", [{}, {"ttft_slo_s": "fast", "tpot_slos_s": [0.1]},
                                   {"ttft_slo_s": 0.2},
                                   {"ttft_slo_s": 0.2, "tpot_phase_starts": [1, 5],
                                    "tpot_slos_s": [0.05]}])
def test_an_incomplete_envelope_is_not_complete(xargs: dict) -> None:
    assert not SloEnvelope.from_xargs(xargs).complete


def test_a_lone_ttft_and_tpot_are_complete_with_the_phase_starting_at_one() -> None:
    env = SloEnvelope.from_xargs({"ttft_slo_s": 1, "tpot_slos_s": [0.05]})
    assert env.complete and env.phase_tpots == ((1, 0.05),) and env.ttft_slo_s == 1.0
    assert env.last_try is None


def test_the_router_adds_last_try_and_passes_the_rest_through() -> None:
    sent = {"ttft_slo_s": 1.0, "other": [1]}
    assert with_last_try(sent, False) == {"ttft_slo_s": 1.0, "other": [1], LAST_TRY: False}
    assert with_last_try(None, True) == {LAST_TRY: True}
    assert sent == {"ttft_slo_s": 1.0, "other": [1]}
    assert SloEnvelope.from_xargs(with_last_try(sent, False)).last_try is False


def test_the_rejection_signal_has_one_definition() -> None:
    assert stream.STOP_REASON_REJECTED is config.STOP_REASON_REJECTED \
        is outcome.STOP_REASON_REJECTED
    assert stream.STOP_REASON_BEST_EFFORT is config.STOP_REASON_BEST_EFFORT \
        is outcome.STOP_REASON_BEST_EFFORT
    assert stream.REJECTED_TYPE is app.REJECTED_TYPE is outcome.REJECTED_TYPE


@pytest.mark.parametrize(("raw", "done", "event"), [
    (b"data: [DONE]\n", True, None),
    (b'data: {"choices": []}\r\n', False, {"choices": []}),
    (b"data:{not json\n", False, None),
    (b"data: 5\n", False, None),
])
def test_a_data_line(raw: bytes, done: bool, event: dict | None) -> None:
    line = parse_line(raw)
    assert line is not None and line.done is done and line.event == event
    assert line.bad is (not done and event is None)


@pytest.mark.parametrize("raw", [b"\n", b": keep-alive\n", b"event: message\n"])
def test_other_lines_are_not_data(raw: bytes) -> None:
    assert parse_line(raw) is None


def test_tokens_are_counted_by_one_rule() -> None:
    assert chunk_tokens({"token_ids": [1, 2], "text": "ab"}) == 2
    assert chunk_tokens({"logprobs": {"tokens": ["a", "b", "c"]}, "text": "abc"}) == 3
    assert chunk_tokens({"text": "a"}) == 1 and chunk_tokens({"text": ""}) == 0
    assert chunk_tokens({"delta": {"content": "a"}}) == 1
    assert chunk_tokens({"delta": {}, "text": "a"}) == 0       # chat: the delta counts
    assert event_tokens({"choices": [{"text": "a"}, {"token_ids": [1, 2]}]}) == 3
    assert event_tokens({"usage": {"completion_tokens": 0}}) == 0
