"""Build the performance model and KV capacity of one replica from names."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from slobench.core.errors import input_error
from slobench.perf.catalog import Catalog, default_catalog
from slobench.perf.hardware import GIB, HardwareSpec
from slobench.perf.model import PerfModel
from slobench.perf.models import ModelSpec
from slobench.perf.roofline import RooflineModel
from slobench.perf.step_profile import is_profile_file, load_profile

ProfileChoice = Literal["auto", "roofline", "fitted"]
PROFILE_CHOICES: tuple[str, ...] = ("auto", "roofline", "fitted")


def build_perf_model(model: str | ModelSpec, hardware: str | HardwareSpec, tp: int = 1,
                     profile: str = "auto", catalog: Catalog | None = None) -> PerfModel:
    """The step-time model of `model` on `tp` x `hardware`.

    profile: "auto" takes a fitted profile when the catalog has one for exactly
    (model, hardware, tp) (the paper's reference profiles ship), else the roofline;
    "roofline" always the roofline; "fitted" a fitted profile or an input error.
    """
    cat = catalog or default_catalog()
    if profile not in PROFILE_CHOICES and is_profile_file(profile):
        return load_profile(Path(profile))      # fitted from a real engine
    if profile not in PROFILE_CHOICES:
        raise input_error("profile", profile, "unknown; expected one of "
                          + ", ".join(PROFILE_CHOICES) + ", or a profile file (.json)")
    model_spec = _model(model, cat)
    hw_spec = _hardware(hardware, cat)
    _check_tp(tp)
    if profile != "roofline":
        fitted = cat.profile(model_spec.name, hw_spec.name, tp)
        if fitted is not None:
            return fitted
        if profile == "fitted":
            have = ", ".join(f"{m}@{h}x{t}" for m, h, t in cat.profile_keys()) or "none"
            raise input_error("profile", "fitted", f"no fitted profile for {model_spec.name} "
                              f"on {tp}x {hw_spec.name}; have: {have}")
    try:
        return RooflineModel(hw_spec, model_spec, tp)
    except ValueError as exc:
        raise input_error("tp", str(tp), str(exc)) from None


def kv_capacity_tokens(model: str | ModelSpec, hardware: str | HardwareSpec, tp: int = 1,
                       mem_util: float = 0.9, catalog: Catalog | None = None) -> int:
    """KV-cache tokens that fit in one replica of `tp` GPUs.

    Like vLLM's --gpu-memory-utilization: `mem_util` of the replica's memory, minus
    the weights, divided by the KV bytes per token. Activation memory is not
    subtracted (vLLM profiles it at start-up; it is small next to the weights).
    """
    cat = catalog or default_catalog()
    model_spec = _model(model, cat)
    hw_spec = _hardware(hardware, cat)
    _check_tp(tp)
    if not 0 < mem_util <= 1:
        raise input_error("mem_util", str(mem_util), "must be in (0, 1]")
    usable = tp * hw_spec.mem_bytes * mem_util
    free = usable - model_spec.weight_bytes
    if free < model_spec.kv_bytes_per_token:
        raise input_error(f"{model_spec.name} on {tp}x {hw_spec.name}", None,
                          f"weights ({model_spec.weight_bytes / GIB:.1f} GiB) leave no room "
                          f"for the KV cache in {usable / GIB:.1f} GiB "
                          f"({mem_util:g} of memory); use more GPUs (tp)")
    return int(free // model_spec.kv_bytes_per_token)


def _model(model: str | ModelSpec, cat: Catalog) -> ModelSpec:
    return model if isinstance(model, ModelSpec) else cat.model(model)


def _hardware(hardware: str | HardwareSpec, cat: Catalog) -> HardwareSpec:
    return hardware if isinstance(hardware, HardwareSpec) else cat.hardware(hardware)


def _check_tp(tp: int) -> None:
    if isinstance(tp, bool) or not isinstance(tp, int) or tp < 1:
        raise input_error("tp", str(tp), "must be an integer >= 1")
