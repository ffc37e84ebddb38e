"""Everything one `slobench run` needs to know, validated before any work starts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from slobench.engines.probe_policy import ProbePolicy
from slobench.errors import input_error
from slobench.sched.slos.policy import SlosConfig

ENGINES = ("sim", "vllm", "openai")
OUTPUT_LENGTH_MODES = ("known", "unknown")


@dataclass
class RunConfig:
    scenarios: list[str]
    backends: list[str] = field(default_factory=lambda: ["vllm", "slos"])
    engine: str = "sim"
    gpus: int = 4
    tp: int = 2
    hardware: str = "a100"
    model: str = "opt-13b"
    profile: str = "auto"
    rates: list[float] | None = None          # fixed rates; None = capacity search
    requests: int = 1000                      # sessions per probe
    seed: int = 0
    out: Path | None = None
    threshold: float = 0.90
    rel_tol: float = 0.05
    min_rate: float = 1e-3                    # the search gives up below this (capacity 0)
    routing: str = "round_robin"
    output_lengths: str = "known"
    predict_quantile: float = 0.5             # unknown lengths: plan on this quantile
    slo_scale: float | None = None            # None: calibrate (SPEC §5)
    max_context: int = 16384
    trace: Path | None = None
    best_effort: bool = True
    spec_tokens: int = 0                      # speculative draft tokens (0: off)
    spec_alpha: float = 0.7                   # their acceptance rate (planning; sim draws)
    command: str = ""
    # Real engines (--engine vllm / openai).
    url: str | None = None                    # openai: the server
    vllm_python: str | None = None            # vllm: interpreter with vLLM (else found)
    vllm_args: list[str] = field(default_factory=list)
    cpu_replicas: int = 1                     # vllm on CPU: servers to start
    startup_timeout_s: float = 900.0
    request_timeout_s: float = 300.0
    record_steps: bool = True                 # stock vLLM replicas log their steps
    min_probe_s: float = 0.0                  # probes last at least this (more sessions)
    warm_requests: int = 4                    # uncounted calls per URL before a probe
    stall_threshold_s: float = 0.25           # a longer client stall re-runs the probe
    max_stall_reruns: int = 2
    twin: bool = False                        # real engines: replay on the simulator

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise input_error("--engine", None, f"unknown engine {self.engine!r}; "
                              f"choose from {', '.join(ENGINES)}")
        if self.gpus < 1:
            raise input_error("--gpus", None, f"must be >= 1, got {self.gpus}")
        if self.tp < 1 or self.gpus % self.tp:
            raise input_error("--tp", None, f"must divide --gpus ({self.gpus}), got {self.tp}")
        if self.requests < 1:
            raise input_error("--requests", None, f"must be >= 1, got {self.requests}")
        if self.rates is not None and any(r <= 0 for r in self.rates):
            raise input_error("--rates", None, "every rate must be > 0")
        if self.min_rate <= 0:
            raise input_error("--min-rate", None, "must be > 0")
        if self.spec_tokens < 0:
            raise input_error("--spec-tokens", None, f"must be >= 0, got {self.spec_tokens}")
        if not 0 <= self.spec_alpha < 1:
            raise input_error("--spec-alpha", None, f"must be in [0, 1), got {self.spec_alpha}")
        if not 0 < self.threshold <= 1:
            raise input_error("--threshold", None, "must be in (0, 1]")
        if self.output_lengths not in OUTPUT_LENGTH_MODES:
            raise input_error("--output-lengths", None,
                              f"choose from {', '.join(OUTPUT_LENGTH_MODES)}")
        if self.slo_scale is not None and self.slo_scale <= 0:
            raise input_error("--slo-scale", None, "must be > 0")
        if self.engine == "openai" and not self.url:
            raise input_error("--url", None, "engine 'openai' needs --url of the server")
        if self.cpu_replicas < 1:
            raise input_error("--replicas", None, f"must be >= 1, got {self.cpu_replicas}")
        if not self.backends:
            raise input_error("--backends", None, "name at least one backend")
        if not 0 <= self.min_probe_s < float("inf"):
            raise input_error("--min-probe-s", None, f"must be >= 0, got {self.min_probe_s}")
        if self.warm_requests < 0:
            raise input_error("--warm-requests", None, f"must be >= 0, got {self.warm_requests}")
        if not 0 < self.stall_threshold_s < float("inf"):
            raise input_error("--stall-threshold", None, "must be > 0")
        if self.max_stall_reruns < 0:
            raise input_error("--stall-reruns", None, "must be >= 0")
        if self.twin and self.engine != "vllm":
            raise input_error("--twin", None, "replays a run of --engine vllm (the steps "
                              "its replicas logged) on the simulator")

    @property
    def replicas(self) -> int:
        return self.gpus // self.tp

    def probe_policy(self) -> ProbePolicy:
        return ProbePolicy(self.warm_requests, self.stall_threshold_s, self.max_stall_reruns)

    def slos_config(self, real_engine: bool) -> SlosConfig:
        """SLOs-Serve's knobs for this run: speculation as asked, a real engine's guards."""
        spec = {"alpha": self.spec_alpha if self.spec_tokens else 0.0,
                "max_draft": self.spec_tokens + 1}
        if real_engine:
            return SlosConfig.for_real_engine(best_effort=self.best_effort, **spec)
        return SlosConfig(best_effort=self.best_effort, **spec)

    def speculative_vllm_args(self) -> list[str]:
        """vLLM's n-gram speculative decoding (it runs on CPU), for every backend alike:
        stock vLLM drafts `spec_tokens` per step; SLOs-Serve caps each request at its
        tier's draft length."""
        if not self.spec_tokens:
            return []
        return ["--speculative-config", json.dumps({
            "method": "ngram", "num_speculative_tokens": self.spec_tokens,
            "prompt_lookup_max": 4, "prompt_lookup_min": 1})]
