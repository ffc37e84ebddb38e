"""Generating workloads: determinism, session shapes per class kind, drops."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import numpy as np
import pytest

from slobench.workloads.generate import generate
from slobench.workloads.scenario import load_scenario


def test_same_seed_gives_the_same_workload_and_another_seed_does_not():
    for name in ("coding", "tool_calling", "mixed"):
        scenario = load_scenario(name)
        a = generate(scenario, 200, seed=42)
        assert a == generate(scenario, 200, seed=42)
        assert a.sessions != generate(scenario, 200, seed=43).sessions


def test_sessions_are_numbered_in_start_order_from_zero():
    workload = generate(load_scenario("chatbot"), 300, seed=1)
    assert [s.session_id for s in workload.sessions] == list(range(300))
    starts = [s.start_s for s in workload.sessions]
    assert starts == sorted(starts) and starts[0] == 0.0
    assert workload.rate == 1.0


def test_tool_calling_chains_grow_their_prompts_and_use_stage_slos():
    workload = generate(load_scenario("tool_calling"), 300, seed=2)
    for session in workload.sessions:
        calls = session.calls
        assert len(calls) >= 2
        for prev, call in pairwise(calls):
            assert call.prompt_tokens > prev.prompt_tokens + prev.output_tokens
        assert [c.stage for c in calls] == ["intermediate_call"] * (len(calls) - 1) + [
            "final_answer"]
        assert all(c.tightest_tpot_ms == 50.0 for c in calls[:-1])
        assert calls[-1].tightest_tpot_ms == 100.0
        assert all(c.ttft_slowdown == 3.0 for c in calls)
        assert all(c.tool_delay_s > 0 for c in calls[:-1]) and calls[-1].tool_delay_s == 0.0


def test_reasoning_calls_split_thinking_and_response_phases():
    workload = generate(load_scenario("reasoning"), 200, seed=3)
    for session in workload.sessions:
        (call,) = session.calls
        thinking, response = call.phases
        assert (thinking.name, thinking.tpot_ms) == ("thinking", 50.0)
        assert (response.name, response.tpot_ms) == ("response", 100.0)
        assert thinking.tokens >= 1 and response.tokens >= 1
        assert call.ttft_slowdown == 3.0
    thinking_tokens = [s.calls[0].phases[0].tokens for s in workload.sessions]
    assert 300 < np.median(thinking_tokens) < 4000  # hundreds to a few thousand


def test_mixed_has_all_three_classes_each_with_its_own_slos():
    workload = generate(load_scenario("mixed"), 3000, seed=4)
    counts = Counter(s.request_class for s in workload.sessions)
    assert set(counts) == {"chatbot", "coding", "summarization"}
    assert counts["chatbot"] / 3000 == pytest.approx(0.4, abs=0.04)
    assert counts["summarization"] / 3000 == pytest.approx(0.2, abs=0.04)
    slos = {(s.request_class, c.ttft_slowdown, c.tightest_tpot_ms)
            for s in workload.sessions for c in s.calls}
    assert slos == {("chatbot", 5.0, 100.0), ("coding", 5.0, 50.0),
                    ("summarization", 3.0, 100.0)}


def test_requests_longer_than_max_context_are_dropped_and_counted():
    scenario = load_scenario("summarization")
    full = generate(scenario, 500, seed=5)
    limit = 6000
    too_long = sum(any(c.prompt_tokens + c.output_tokens > limit for c in s.calls)
                   for s in full.sessions)
    assert too_long > 0
    cut = generate(scenario, 500, seed=5, max_context=limit)
    assert cut.dropped_too_long == too_long
    assert len(cut.sessions) == 500 - too_long
    assert [s.session_id for s in cut.sessions] == list(range(len(cut.sessions)))
    assert all(c.prompt_tokens + c.output_tokens <= limit for s in cut.sessions for c in s.calls)
    assert "dropped_too_long" in cut.notes


def test_a_chain_with_one_call_too_long_is_dropped_whole():
    scenario = load_scenario("tool_calling")
    full = generate(scenario, 300, seed=6)
    limit = 2500
    kept = [s for s in full.sessions
            if all(c.prompt_tokens + c.output_tokens <= limit for c in s.calls)]
    cut = generate(scenario, 300, seed=6, max_context=limit)
    assert cut.dropped_too_long == 300 - len(kept) > 0
    assert [s.calls for s in cut.sessions] == [s.calls for s in kept]


def test_at_rate_scales_start_times_but_not_tool_delays():
    workload = generate(load_scenario("tool_calling"), 100, seed=7)
    fast = workload.at_rate(4.0)
    assert fast.sessions[-1].start_s == pytest.approx(workload.sessions[-1].start_s / 4)
    assert [s.calls for s in fast.sessions] == [s.calls for s in workload.sessions]
