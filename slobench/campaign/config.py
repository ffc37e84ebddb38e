"""Everything one `slobench run` needs to know: what runs everywhere (scenarios,
backends, deployment, workload, SLOs) and three parts that only some runs read — the
capacity search, the simulator, the real engines.

The command line validates every value before it builds one (`slobench.cli.options`,
one rule per option) and passes them flat (`RunConfig.build`); run.json keeps the flat
form too (`public_dict`), so a run folder reads the same whatever the layout here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from slobench.engines.http.options import LoadOptions
from slobench.engines.http.probe_policy import ProbePolicy
from slobench.perf.catalog import default_catalog
from slobench.perf.hardware import GIB, HardwareSpec
from slobench.sched.slos.policy import SlosConfig

ENGINES = ("sim", "vllm", "openai")
OUTPUT_LENGTH_MODES = ("known", "unknown")


@dataclass(frozen=True)
class SearchOptions:
    """How capacity is found (SPEC §4), or which fixed rates are probed instead."""

    rates: list[float] | None = None          # fixed rates; None = capacity search
    threshold: float = 0.90
    rel_tol: float = 0.05
    min_rate: float = 1e-3                    # the search gives up below this (capacity 0)
    min_probe_s: float = 0.0                  # probes last at least this (more sessions)
    failure_budget: float = 0.5               # a probe failing more calls ends its search


@dataclass(frozen=True)
class SimOptions:
    """The simulated engine: its GPU, step-time profile, routing and probe pool."""

    hardware: str = "a100"
    gpu_memory_gib: float | None = None       # None: the hardware's own (--paper sets it)
    profile: str = "auto"
    routing: str = "round_robin"
    workers: int = 1                          # probes in parallel processes

    def hardware_spec(self) -> HardwareSpec:
        """The simulated GPU: the catalog's, with `gpu_memory_gib` of memory when set."""
        hw = default_catalog().hardware(self.hardware)
        if self.gpu_memory_gib is None:
            return hw
        return replace(hw, mem_bytes=self.gpu_memory_gib * GIB)


@dataclass(frozen=True)
class RealEngineOptions:
    """`--engine vllm` (servers slobench starts) and `--engine openai` (a URL)."""

    url: str | None = None                    # openai: the server
    vllm_python: str | None = None            # vllm: interpreter with vLLM (else found)
    vllm_args: list[str] = field(default_factory=list)
    cpu_replicas: int = 1                     # vllm on CPU: servers to start
    startup_timeout_s: float = 900.0
    request_timeout_s: float = 300.0
    record_steps: bool = True                 # stock vLLM replicas log their steps
    router: str = "auto"                      # vllm, slos: in front of 2+ replicas | always
    warm_requests: int = 4                    # uncounted calls per URL before a probe
    stall_threshold_s: float = 0.25           # a longer client stall re-runs the probe
    max_stall_reruns: int = 2
    twin: bool = False                        # replay the run on the simulator
    endpoint: str = "completions"             # completions | chat
    max_concurrency: int | None = None        # calls in flight at most
    http_headers: dict[str, str] = field(default_factory=dict, repr=False)  # may hold keys
    dataset: str | None = None                # KIND:PATH of text prompts
    tokenizer: str | None = None              # their token counter (else /tokenize)

    def load_options(self) -> LoadOptions:
        return LoadOptions(dict(self.http_headers), self.endpoint, self.max_concurrency,
                           self.dataset, self.tokenizer)

    def probe_policy(self) -> ProbePolicy:
        return ProbePolicy(self.warm_requests, self.stall_threshold_s, self.max_stall_reruns)


_PARTS = {"search": SearchOptions, "sim": SimOptions, "real": RealEngineOptions}


@dataclass
class RunConfig:
    scenarios: list[str]
    backends: list[str] = field(default_factory=lambda: ["vllm", "slos"])
    engine: str = "sim"
    gpus: int = 4
    tp: int = 2
    model: str = "opt-13b"
    requests: int = 1000                      # sessions per probe
    seed: int = 0
    out: Path | None = None
    output_lengths: str = "known"
    predict_quantile: float = 0.5             # unknown lengths: plan on this quantile
    slo_scale: float | None = None            # None: calibrate (SPEC §5)
    max_context: int = 16384
    trace: Path | None = None
    best_effort: bool | None = None           # None: the engine's default (SlosConfig)
    spec_tokens: int = 0                      # speculative draft tokens (0: off)
    spec_alpha: float = 0.7                   # their acceptance rate (planning; sim draws)
    command: str = ""
    ray_address: str | None = None            # sim: probes on Ray; vllm: replicas on Ray
    search: SearchOptions = field(default_factory=SearchOptions)
    sim: SimOptions = field(default_factory=SimOptions)
    real: RealEngineOptions = field(default_factory=RealEngineOptions)

    @classmethod
    def build(cls, **flat: Any) -> RunConfig:
        """A config from flat option names (the command line's, run.json's)."""
        return cls(scenarios=flat.pop("scenarios"), **_routed(cls(scenarios=[]), flat))

    def with_changes(self, **flat: Any) -> RunConfig:
        """This config with flat-named fields changed (dataclasses.replace, routed)."""
        return replace(self, **_routed(self, flat))

    @property
    def replicas(self) -> int:
        return self.gpus // self.tp

    def public_dict(self) -> dict[str, Any]:
        """The config as run.json shows it, flat: paths as text, header values hidden."""
        from slobench.engines.http.server import public_headers

        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out.update(asdict(value) if f.name in _PARTS else {f.name: value})
        out = {k: (str(v) if isinstance(v, Path) else v) for k, v in out.items()}
        out["http_headers"] = public_headers(self.real.http_headers)
        return out

    def slos_config(self, real_engine: bool) -> SlosConfig:
        """SLOs-Serve's knobs for this run: speculation as asked, a real engine's guards."""
        spec: dict[str, Any] = {"alpha": self.spec_alpha if self.spec_tokens else 0.0,
                                "max_draft": self.spec_tokens + 1}
        if self.best_effort is not None:
            spec["best_effort"] = self.best_effort
        if real_engine:
            return SlosConfig.for_real_engine(**spec)
        return SlosConfig(**spec)

    def speculative_vllm_args(self) -> list[str]:
        """vLLM's n-gram speculative decoding (it runs on CPU), for every backend alike:
        stock vLLM drafts `spec_tokens` per step; SLOs-Serve caps each request at its
        tier's draft length."""
        if not self.spec_tokens:
            return []
        return ["--speculative-config", json.dumps({
            "method": "ngram", "num_speculative_tokens": self.spec_tokens,
            "prompt_lookup_max": 4, "prompt_lookup_min": 1})]


def flat_names() -> set[str]:
    """Every name `RunConfig.build` takes."""
    top = {f.name for f in fields(RunConfig) if f.name not in _PARTS}
    return top | {f.name for part in _PARTS.values() for f in fields(part)}


def _routed(base: RunConfig, flat: dict[str, Any]) -> dict[str, Any]:
    """Flat names -> RunConfig's own fields, with each part's names folded into it."""
    top = {f.name for f in fields(RunConfig) if f.name not in _PARTS}
    out: dict[str, Any] = {}
    changes: dict[str, dict[str, Any]] = {name: {} for name in _PARTS}
    for key, value in flat.items():
        part = next((p for p, cls in _PARTS.items() if key in cls.__dataclass_fields__), None)
        if key in top:
            out[key] = value
        elif part is not None:
            changes[part][key] = value
        else:
            raise TypeError(f"RunConfig has no option {key!r}")
    for part, values in changes.items():
        if values:
            out[part] = replace(getattr(base, part), **values)
    return out
