"""The core a replica's plugin drives, built from its config (no vLLM needed)."""

from __future__ import annotations

import pytest

from slobench.core.request import SchedRequest
from slobench.engines.vllm.plugin.config import plugin_config
from slobench.engines.vllm.plugin.core_setup import build_core
from slobench.perf.feedback import OnlineStepModel
from slobench.perf.measured import MeasuredModel
from slobench.sched.kv_blocks import BLOCK_SIZE

LINE = MeasuredModel(base_s=0.002, per_token_s=7e-5, decode_step_s=0.004,
                     points={16: 0.003, 512: 0.038})


def test_the_core_plans_on_the_configured_model_guard_and_kv() -> None:
    core = build_core(plugin_config(LINE, (0.05,), kv_tokens=64 * BLOCK_SIZE), 10**6)
    assert isinstance(core.online, OnlineStepModel) and core.perf is core.online
    assert core.policy.ctx.perf is core.perf and core.policy.ctx.kv is core.kv
    assert core.kv.total_blocks == 64 and core.same_host
    assert core.guard.slo_factor == 0.9 and core.policy.cfg.max_stretch == 1.0
    assert core.guard.delivery_s > 0
    assert core.guard.delivery_s == pytest.approx(plugin_config(LINE)["delivery_s"])
    assert core.policy.planner.tiers_s == (0.05,)


def test_without_feedback_or_tiers() -> None:
    cfg = {**plugin_config(LINE), "feedback": False, "kv_tokens": None}
    core = build_core(cfg, 32 * BLOCK_SIZE)
    assert core.online is None and core.perf.describe() == LINE.describe()
    assert core.kv.total_blocks == 32 and core.policy.planner.tiers_s == (1.0,)  # placeholder


def test_tiers_requests_bring_are_learnt_once() -> None:
    core = build_core(plugin_config(LINE, (0.05,)), 10**6)
    sr = SchedRequest(0, 0.0, 16, 20, 20, 1.0, ((1, 0.1), (5, 0.05)))
    core.learn_tiers(sr)
    planner = core.policy.planner
    assert planner.tiers_s == (0.05, 0.1)
    core.learn_tiers(sr)
    assert core.policy.planner is planner                   # nothing new: no rebuild


def test_a_config_without_a_model_is_refused() -> None:
    with pytest.raises(RuntimeError, match="perf"):
        build_core({}, 1024)
