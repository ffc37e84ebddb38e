"""`--spec-tokens` / `--spec-alpha`: what SLOs-Serve plans with and what vLLM is started with."""

from __future__ import annotations

import json

from slobench.campaign.config import RunConfig


def test_speculation_off_by_default() -> None:
    cfg = RunConfig.build(scenarios=["coding"])
    assert cfg.slos_config(real_engine=False).alpha == 0.0
    assert cfg.speculative_vllm_args() == []


def test_spec_tokens_set_the_draft_limit_and_the_planned_acceptance() -> None:
    cfg = RunConfig.build(scenarios=["coding"], spec_tokens=3, spec_alpha=0.6, best_effort=False)
    slos = cfg.slos_config(real_engine=True)
    assert (slos.alpha, slos.max_draft, slos.best_effort) == (0.6, 4, False)
    assert slos.max_stretch == 1.0                       # real-engine settings kept
    flag, value = cfg.speculative_vllm_args()
    assert flag == "--speculative-config"
    spec = json.loads(value)
    assert spec["method"] == "ngram" and spec["num_speculative_tokens"] == 3
