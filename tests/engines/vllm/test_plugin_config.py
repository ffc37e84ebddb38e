"""What slobench tells the SLOs-Serve vLLM plugin (pure: no vLLM import)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slobench.engines.vllm.plugin.config import (
    ENV_CONFIG,
    default_guard_s,
    load_plugin_config,
    perf_from_dict,
    plugin_config,
    plugin_env,
)
from slobench.perf.measured import MeasuredModel
from slobench.sched.slos.policy import SlosConfig

LINE = MeasuredModel(base_s=0.002, per_token_s=7e-5, decode_step_s=0.004,
                     points={16: 0.003, 512: 0.038})


def test_config_round_trips_through_the_environment(tmp_path: Path) -> None:
    cfg = plugin_config(LINE, (0.05,), slos=SlosConfig.for_real_engine(best_effort=False))
    env = plugin_env(cfg, tmp_path)
    back = load_plugin_config(env)
    assert back == json.loads(json.dumps(cfg))
    assert back["slos"]["best_effort"] is False and back["slos"]["max_stretch"] == 1.0
    perf = perf_from_dict(back["perf"])
    assert perf.step_time(300, 2, 900) == pytest.approx(LINE.step_time(300, 2, 900))


def test_config_may_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "slos.json"
    path.write_text(json.dumps(plugin_config(LINE)))
    assert load_plugin_config({ENV_CONFIG: str(path)})["perf"]["base_s"] == LINE.base_s


def test_default_config_uses_real_engine_settings_and_a_guard() -> None:
    cfg = plugin_config(LINE)
    assert cfg["slos"]["max_stretch"] == SlosConfig.for_real_engine().max_stretch
    assert cfg["guard_s"] == default_guard_s(LINE) >= 2 * LINE.decode_s
    assert 0 < cfg["slo_guard"] <= 1 and 0 < cfg["feedback_quantile"] <= 1


def test_delivery_is_one_decode_step_within_the_guard() -> None:
    slow = MeasuredModel(base_s=0.002, per_token_s=7e-5, decode_step_s=0.008, points={})
    assert plugin_config(slow)["delivery_s"] == pytest.approx(slow.decode_step_time(1, 512))
    assert plugin_config(LINE)["delivery_s"] == pytest.approx(0.005)     # at least 5 ms
    assert plugin_config(LINE, guard_s=0.002)["delivery_s"] == pytest.approx(0.002)


def test_guard_is_at_least_ten_milliseconds_on_fast_engines() -> None:
    fast = MeasuredModel(base_s=1e-4, per_token_s=1e-6, decode_step_s=5e-4, points={})
    assert default_guard_s(fast) == pytest.approx(0.010)


def test_explicit_guard_wins_and_bad_guards_are_refused() -> None:
    assert plugin_config(LINE, guard_s=0.0)["guard_s"] == 0.0
    with pytest.raises(ValueError, match="slo_guard"):
        plugin_config(LINE, slo_guard=1.5)
    with pytest.raises(ValueError, match="feedback_quantile"):
        plugin_config(LINE, feedback_quantile=0.0)
