"""The SLOs-Serve core a replica's plugin drives, built from what it is told (pure: no
vLLM import, so it is tested without vLLM). The config's keys are `config.py`'s."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slobench.core.request import SchedRequest
from slobench.engines.vllm.plugin.config import DEFAULT_FEEDBACK_QUANTILE, perf_from_dict
from slobench.perf.feedback import OnlineStepModel
from slobench.perf.model import PerfModel
from slobench.sched.interface import SchedContext
from slobench.sched.kv_blocks import BLOCK_SIZE, BlockPool
from slobench.sched.slos.config import SlosConfig
from slobench.sched.slos.guards import SloGuard
from slobench.sched.slos.policy import SlosPolicy


@dataclass
class PluginCore:
    policy: SlosPolicy
    # The engine's side of the KV pool the core plans with: the plugin frees a request's
    # blocks (vLLM preempted or dropped it), the core allocates them.
    kv: BlockPool
    perf: PerfModel                     # what the core plans with
    online: OnlineStepModel | None      # the same model when refitted online, else None
    guard: SloGuard
    same_host: bool                     # the client's arrival_monotonic_s is on our clock
    tiers: set[float] = field(default_factory=set)

    def learn_tiers(self, sr: SchedRequest) -> None:
        """A TPOT SLO the planner has not seen: the core re-plans with it."""
        new = {t for _, t in sr.phase_tpots} - self.tiers
        if new:
            self.tiers |= new
            self.policy.set_tiers(tuple(sorted(self.tiers)))


def build_core(cfg: dict[str, Any], engine_kv_tokens: int) -> PluginCore:
    if "perf" not in cfg:
        raise RuntimeError("SlosScheduler needs $SLOBENCH_SLOS_CONFIG with a 'perf' "
                           "model (slobench writes it from calibration)")
    calibrated = perf_from_dict(cfg["perf"])
    # The core plans with a step-time model refitted from this engine's own steps
    # (slobench.perf.feedback), starting from the calibrated one; `feedback: false`
    # keeps the calibrated model.
    online = (OnlineStepModel(calibrated, quantile=float(cfg.get(
        "feedback_quantile", DEFAULT_FEEDBACK_QUANTILE)))
        if cfg.get("feedback", True) else None)
    perf = online or calibrated
    guard = SloGuard(float(cfg.get("slo_guard") or 1.0), float(cfg.get("guard_s") or 0.0),
                     float(cfg.get("delivery_s") or 0.0))
    kv_tokens = int(cfg.get("kv_tokens") or engine_kv_tokens)
    slos_fields = {k: v for k, v in (cfg.get("slos") or {}).items()
                   if k in SlosConfig.__dataclass_fields__}
    # TPOT tiers: the configured ones plus every TPOT SLO requests bring; until the
    # first is known the planner gets a placeholder tier (nothing decodes then).
    tiers = {float(t) for t in cfg.get("tpot_tiers_s") or ()}
    kv = BlockPool(max(1, kv_tokens // BLOCK_SIZE))
    ctx = SchedContext(perf=perf, kv=kv, tpot_tiers_s=tuple(sorted(tiers)) or (1.0,),
                       options={"slos": SlosConfig(**slos_fields)})
    return PluginCore(SlosPolicy(ctx), kv, perf, online, guard,
                      bool(cfg.get("same_host", False)), tiers)
