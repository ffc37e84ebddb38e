"""A scenario file's `[paper]` table: the deployment the SLOs-Serve paper ran it on.

`slobench run --paper` runs each scenario on its own setting instead of the command
line's model and GPUs. Schema (every key but `model` and `tp` optional):

    [paper]
    model = "opt-13b"             # the served model (a catalog name)
    tp = 2                        # tensor-parallel degree of one replica
    gpus = 4                      # GPUs in the deployment (a multiple of tp)
    hardware = "a100"             # GPU kind (a catalog name)
    gpu_memory_gib = 40           # memory per GPU, when not the catalog GPU's own
    spec_tokens = 4               # draft tokens per step (0: no speculative decoding)
    spec_alpha = 0.7              # the drafts' acceptance rate
    draft_model = "opt-125m"      # the drafter (a label: its cost is in the profile)
    gain = 2.2                    # the paper's own gain for this scenario, if known
    notes = "..."                 # what is from the paper and what is assumed

Model and hardware names are checked against the perf catalog by the runner (this
layer does not import `perf`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slobench.core.errors import input_error
from slobench.workloads.tomlcheck import as_int, as_number, as_str, as_table, check_keys

_REQUIRED = {"model", "tp"}
_OPTIONAL = {"gpus", "hardware", "gpu_memory_gib", "spec_tokens", "spec_alpha",
             "draft_model", "gain", "notes"}


@dataclass(frozen=True)
class PaperSetting:
    model: str
    tp: int
    gpus: int = 4
    hardware: str = "a100"
    gpu_memory_gib: float | None = None
    spec_tokens: int = 0
    spec_alpha: float = 0.7
    draft_model: str = ""
    gain: float | None = None          # the paper's figure; None where it is not known
    notes: str = ""

    @property
    def drafts(self) -> bool:
        return self.spec_tokens > 0


def parse_paper(raw: Any, src: str) -> PaperSetting | None:
    """The `[paper]` table of file `src` (None when the file has none)."""
    if raw is None:
        return None
    table = as_table(raw, src, "paper")
    check_keys(table, src, "paper", _REQUIRED, _OPTIONAL)

    def where(key: str) -> str:
        return f"paper.{key}"

    tp = as_int(table["tp"], src, where("tp"), minimum=1)
    gpus = as_int(table.get("gpus", 4), src, where("gpus"), minimum=1)
    if gpus % tp:
        raise input_error(src, where("gpus"), f"{gpus} GPUs do not split into replicas of "
                          f"tp {tp}")
    memory = table.get("gpu_memory_gib")
    alpha = as_number(table.get("spec_alpha", 0.7), src, where("spec_alpha"), non_negative=True)
    if alpha >= 1:
        raise input_error(src, where("spec_alpha"), f"must be in [0, 1), got {alpha:g}")
    gain = table.get("gain")
    return PaperSetting(
        model=as_str(table["model"], src, where("model")), tp=tp, gpus=gpus,
        hardware=as_str(table.get("hardware", "a100"), src, where("hardware")),
        gpu_memory_gib=(None if memory is None else
                        as_number(memory, src, where("gpu_memory_gib"), positive=True)),
        spec_tokens=as_int(table.get("spec_tokens", 0), src, where("spec_tokens"), minimum=0),
        spec_alpha=alpha,
        draft_model=as_str(table.get("draft_model", ""), src, where("draft_model")),
        gain=None if gain is None else as_number(gain, src, where("gain"), positive=True),
        notes=as_str(table.get("notes", ""), src, where("notes")))
