"""The Engine protocol: where a backend runs (SPEC §2). The simulator (`engines.sim`),
vLLM servers slobench starts (`engines.vllm`) and a server at a URL (`engines.http`)
implement it, so a campaign has one code path for all three."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from slobench.core.calibration import Calibration
from slobench.core.outcome import ProbeResult
from slobench.engines.requests import RequestFactory
from slobench.perf.model import PerfModel
from slobench.workloads.entities import Workload


class Engine(Protocol):
    name: str                       # "sim", "vllm", "openai"
    # Changing backend restarts servers: a campaign runs every scenario on one backend
    # before the next (the simulator goes scenario by scenario).
    backend_major: bool
    # Probes are pure functions of their task (the simulator): they may run in other
    # processes or on Ray and give the same answer.
    parallel_probes: bool
    kv_tokens_per_replica: int | None   # what the scheduler plans with (None: the engine's)

    def calibrate(self, slo_scale: float | None, notes: Callable[[str], None] | None = None,
                  ) -> tuple[PerfModel, Calibration]:
        """The step-time model and SLO scaling measured on (or given by) this engine;
        `notes` hears a measurement's progress."""
        ...

    def probe(self, backend: str, workload: Workload, factory: RequestFactory,
              tiers: tuple[float, ...]) -> ProbeResult:
        """One workload (already at its rate) through one backend."""
        ...

    def describe(self) -> dict[str, Any]:
        """run.json's `hardware`: where this ran."""
        ...

    def close(self) -> None:
        """Stop whatever the engine started (servers, router); idempotent."""
        ...
