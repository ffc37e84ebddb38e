"""Performance model of a serving replica: batch step time and its inverse (SPEC §6)."""

from slobench.perf.catalog import Catalog, default_catalog, get_hardware, get_model
from slobench.perf.factory import PROFILE_CHOICES, build_perf_model, kv_capacity_tokens
from slobench.perf.fitted import REFERENCE_PROFILES, FittedProfile
from slobench.perf.hardware import HardwareSpec
from slobench.perf.model import PerfModel
from slobench.perf.models import ModelSpec
from slobench.perf.roofline import RooflineModel
from slobench.perf.specs_file import load_specs_file

__all__ = [
    "PROFILE_CHOICES",
    "REFERENCE_PROFILES",
    "Catalog",
    "FittedProfile",
    "HardwareSpec",
    "ModelSpec",
    "PerfModel",
    "RooflineModel",
    "build_perf_model",
    "default_catalog",
    "get_hardware",
    "get_model",
    "kv_capacity_tokens",
    "load_specs_file",
]
