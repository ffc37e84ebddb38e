"""Name -> spec lookups for hardware, models and fitted profiles.

Names are case-insensitive. The shipped entries live in the default catalog; a user
specs file (`specs_file.load_specs_file`) adds to it or overrides entries by name.
"""

from __future__ import annotations

from typing import TypeVar

from slobench.core.errors import input_error
from slobench.perf.fitted import REFERENCE_PROFILES, FittedProfile
from slobench.perf.hardware import SHIPPED_HARDWARE, HardwareSpec
from slobench.perf.models import SHIPPED_MODELS, ModelSpec

ProfileKey = tuple[str, str, int]   # (model name, hardware name, tp), names lower-case
Spec = TypeVar("Spec", HardwareSpec, ModelSpec)


def normalize(name: str) -> str:
    return name.strip().lower()


class Catalog:
    """The hardware, models and fitted profiles known to a run."""

    def __init__(self, hardware: tuple[HardwareSpec, ...] = (),
                 models: tuple[ModelSpec, ...] = (),
                 profiles: dict[ProfileKey, FittedProfile] | None = None) -> None:
        self._hardware: dict[str, HardwareSpec] = {}
        self._models: dict[str, ModelSpec] = {}
        self._profiles: dict[ProfileKey, FittedProfile] = {}
        for hw in hardware:
            self.add_hardware(hw)
        for m in models:
            self.add_model(m)
        for (model, hw_name, tp), profile in (profiles or {}).items():
            self.add_profile(model, hw_name, tp, profile)

    def copy(self) -> Catalog:
        return Catalog(tuple(self._hardware.values()), tuple(self._models.values()),
                       dict(self._profiles))

    def add_hardware(self, spec: HardwareSpec) -> None:
        self._hardware[normalize(spec.name)] = spec

    def add_model(self, spec: ModelSpec) -> None:
        self._models[normalize(spec.name)] = spec

    def add_profile(self, model: str, hardware: str, tp: int, profile: FittedProfile) -> None:
        self._profiles[(normalize(model), normalize(hardware), tp)] = profile

    def hardware_names(self) -> list[str]:
        return sorted(self._hardware)

    def model_names(self) -> list[str]:
        return sorted(self._models)

    def hardware(self, name: str) -> HardwareSpec:
        return _find(self._hardware, "hardware", name)

    def model(self, name: str) -> ModelSpec:
        return _find(self._models, "model", name)

    def profile(self, model: str, hardware: str, tp: int) -> FittedProfile | None:
        """The fitted profile for exactly this deployment, or None."""
        return self._profiles.get((normalize(model), normalize(hardware), tp))

    def profile_keys(self) -> list[ProfileKey]:
        return sorted(self._profiles)


def _find(table: dict[str, Spec], what: str, name: str) -> Spec:
    try:
        return table[normalize(name)]
    except KeyError:
        raise input_error(what, name, "unknown; known: " + ", ".join(sorted(table))) from None


# Module-level so a specs file loaded once (e.g. by the CLI) is seen by every lookup.
_DEFAULT = Catalog(SHIPPED_HARDWARE, SHIPPED_MODELS, REFERENCE_PROFILES)


def default_catalog() -> Catalog:
    return _DEFAULT


def get_hardware(name: str, catalog: Catalog | None = None) -> HardwareSpec:
    return (catalog or _DEFAULT).hardware(name)


def get_model(name: str, catalog: Catalog | None = None) -> ModelSpec:
    return (catalog or _DEFAULT).model(name)
