"""The simulator's answers are pinned across its speed work (issue 16).

The fast-forward test compares two modes of the same code; this one compares the code
with itself as it was before the speed work (commit c3b5af2): small seeded probes of
every policy (a small KV pool for preemptions, predicted lengths, drafts), each reduced
to a digest of every request's outcome, the timeline, the counters and the number of
overhead samples. The digests below were printed by this file's `__main__` under that
commit; a changed digest means the simulator now finds something else.

    PYTHONPATH=<tree> python tests/engines/sim/test_sim_pinned_results.py
"""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from slobench.core.outcome import ProbeResult
from slobench.engines.requests import LengthPredictor, RequestFactory, tpot_tiers
from slobench.engines.sim.engine import SimSetup, run_sim_probe
from slobench.perf.factory import build_perf_model, kv_capacity_tokens
from slobench.sched.slos.policy import SlosConfig
from slobench.workloads.generate import generate
from slobench.workloads.scenario import load_scenario

GiB = 1 << 30

# (scenario, rate, backend, KV tokens or 0 for the model's, predicted lengths, drafts)
CASES: dict[str, tuple[str, float, str, int, bool, int]] = {
    "chatbot-vllm": ("chatbot", 24.0, "vllm", 0, False, 0),
    "chatbot-slos": ("chatbot", 24.0, "slos", 0, False, 0),
    "coding-sarathi": ("coding", 1.5, "sarathi", 0, False, 0),
    "coding-slos": ("coding", 1.5, "slos", 0, False, 0),
    "reasoning-vllm": ("reasoning", 1.4, "vllm", 0, False, 0),
    "reasoning-slos": ("reasoning", 1.4, "slos", 0, False, 0),
    "tools-slos": ("tool_calling", 1.0, "slos", 0, False, 0),
    "coding-vllm-small-kv": ("coding", 3.0, "vllm", 8_000, False, 0),
    "coding-slos-small-kv": ("coding", 3.0, "slos", 8_000, False, 0),
    "chatbot-slos-predicted": ("chatbot", 20.0, "slos", 0, True, 0),
    "chatbot-vllm-spec": ("chatbot", 24.0, "vllm_spec", 0, False, 3),
    "coding-slos-drafts": ("coding", 1.5, "slos", 0, False, 3),
}

PINNED: dict[str, str] = {
    "chatbot-vllm": "d888a3398cc993767ec09951",
    "chatbot-slos": "be584f8113efa83048fcf970",
    "coding-sarathi": "16976a3613c32d83e625830e",
    "coding-slos": "cd2486c792cfef0cbb343f72",
    "reasoning-vllm": "bc1e434007c83b2412730300",
    "reasoning-slos": "82aac8c7e687bb0cab1a8a2e",
    "tools-slos": "3d1b839ecb4fbcd9d34e22fb",
    "coding-vllm-small-kv": "962e9a751922355305bb90c6",
    "coding-slos-small-kv": "18648d8072a7fab604f0927b",
    "chatbot-slos-predicted": "603cfaca6043e289bfbe8c9d",
    "chatbot-vllm-spec": "d769ec8c3f065c63115c0909",
    "coding-slos-drafts": "dbaf94b687588396b497ff90",
}


def _probe(scenario: str, rate: float, backend: str, kv_tokens: int, predicted: bool,
           drafts: int) -> ProbeResult:
    perf = build_perf_model("opt-13b", "a100", 2)
    kv = kv_tokens or kv_capacity_tokens("opt-13b", "a100", 2)
    slos = SlosConfig(alpha=0.7, max_draft=drafts + 1) if drafts else SlosConfig()
    setup = SimSetup(perf, 2, kv, 80 * GiB, "a100", slos=slos,
                     spec_acceptance=0.7 if drafts else 0.0, spec_tokens=drafts)
    workload = generate(load_scenario(scenario), 150, 3, 16384)
    predictor = LengthPredictor(workload, 0.5) if predicted else None
    return run_sim_probe(setup, backend, workload.at_rate(rate),
                         RequestFactory(perf, 1.0, predictor), tpot_tiers(workload, 1.0))


def digest(res: ProbeResult) -> str:
    """Every figure the probe reports, floats by repr (bit for bit)."""
    h = hashlib.sha256()
    for o in res.outcomes:
        h.update(repr(dataclasses.astuple(o)).encode())
    h.update(repr(res.timeline).encode())
    h.update(repr((sorted(res.counters.items()), len(res.step_overheads_s),
                   len(res.replan_overheads_s), res.end_time_s, res.backlog_s)).encode())
    return h.hexdigest()[:24]


@pytest.mark.parametrize("case", sorted(CASES))
def test_probe_gives_the_pinned_results(case: str) -> None:
    assert digest(_probe(*CASES[case])) == PINNED[case]


if __name__ == "__main__":
    for name in CASES:
        print(f'    "{name}": "{digest(_probe(*CASES[name]))}",')
