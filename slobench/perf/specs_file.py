"""User specs files: extra hardware, models and fitted profiles in TOML.

    [hardware.my-gpu]            # fields of HardwareSpec; peak_flops, mem_bw and
    peak_flops = 400e12          # mem_bytes are required, the rest have defaults
    mem_bw = 2.4e12
    mem_bytes = 96e9

    [models.my-model]            # fields of ModelSpec (kv_heads defaults to heads)
    layers = 32
    hidden = 4096
    heads = 32
    intermediate = 11008
    vocab = 32000
    max_context = 4096

    [profiles.my-fit]            # a fitted T(N, S) = max(k1*N + k2*S + b) profile
    model = "my-model"
    hardware = "my-gpu"
    tp = 1
    terms = [[4.2e-5, 0.0, 0.027], [0.0, 0.0, 1.2e-5]]

Entries with a shipped name replace the shipped one. The whole file is checked before
anything is registered, so a bad file leaves the catalog as it was.
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
import typing
from pathlib import Path
from typing import Any

from slobench.core.errors import UserInputError, input_error
from slobench.perf.catalog import Catalog, default_catalog, normalize
from slobench.perf.fitted import FittedProfile
from slobench.perf.hardware import HardwareSpec
from slobench.perf.models import ModelSpec

_SECTIONS = ("hardware", "models", "profiles")

log = logging.getLogger(__name__)


def load_specs_file(path: str | Path, catalog: Catalog | None = None) -> Catalog:
    """Add the file's entries to `catalog` (default: the global one) and return it."""
    source = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise input_error(source, None, f"cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise input_error(source, None, f"not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise input_error(source, None, "not UTF-8 text") from None
    for key in data:
        if key not in _SECTIONS:
            raise input_error(source, key, "unknown section; expected one of "
                              + ", ".join(_SECTIONS))
    target = catalog or default_catalog()
    hardware = [_build(source, "hardware", name, body, HardwareSpec)
                for name, body in _section(source, data, "hardware")]
    models = [_build(source, "models", name, body, ModelSpec)
              for name, body in _section(source, data, "models")]
    # Profiles may name hardware/models defined in this same file.
    known = target.copy()
    for hw in hardware:
        known.add_hardware(hw)
    for m in models:
        known.add_model(m)
    profiles = [_profile(source, name, body, known)
                for name, body in _section(source, data, "profiles")]
    for hw in hardware:
        target.add_hardware(hw)
    for m in models:
        target.add_model(m)
    for key, profile in profiles:
        target.add_profile(*key, profile)
    return target


def check_specs_file(path: str | Path) -> None:
    """Raise the UserInputError a bad specs file gets (one line naming the file and
    field); register nothing."""
    load_specs_file(path, default_catalog().copy())


def use_specs_file(path: str | Path | None) -> None:
    """Make a user's specs file (the CLI's --specs) usable by name in this process: its
    entries join the default catalog every lookup uses. None: nothing to add. A command
    that builds perf models in worker processes must load the file there too."""
    if path is not None:
        load_specs_file(path)
        log.debug("specs file %s added to the catalog", path)


def _section(source: str, data: dict[str, Any], section: str) -> list[tuple[str, dict]]:
    tables = data.get(section, {})
    if not isinstance(tables, dict):
        raise input_error(source, section, "must be a table of [" + section + ".NAME] entries")
    for name, body in tables.items():
        if not isinstance(body, dict):
            raise input_error(source, f"{section}.{name}", "must be a table")
    return list(tables.items())


def _build(source: str, section: str, name: str, body: dict[str, Any], cls: type) -> Any:
    where = f"{section}.{name}"
    types = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "name"}
    values: dict[str, Any] = {"name": name}
    for key, value in body.items():
        if key not in fields:
            raise input_error(source, f"{where}.{key}", "unknown field; expected one of "
                              + ", ".join(fields))
        values[key] = _check_type(source, f"{where}.{key}", value, types[key])
    if cls is ModelSpec and "kv_heads" not in values and "heads" in values:
        values["kv_heads"] = values["heads"]    # plain multi-head attention by default
    for key, f in fields.items():
        if key not in values and f.default is dataclasses.MISSING:
            raise input_error(source, f"{where}.{key}", "missing (required)")
    try:
        return cls(**values)
    except ValueError as exc:
        raise input_error(source, where, str(exc)) from None


def _check_type(source: str, where: str, value: Any, expected: type) -> Any:
    # TOML gives bool/int/float distinctly; bool is an int subclass in Python, so
    # reject it explicitly where a number is wanted.
    if expected is bool:
        if isinstance(value, bool):
            return value
        raise input_error(source, where, f"must be true or false, got {value!r}")
    if expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise input_error(source, where, f"must be an integer, got {value!r}")
    if expected is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise input_error(source, where, f"must be a number, got {value!r}")
    raise input_error(source, where, f"unsupported field type {expected!r}")


def _profile(source: str, name: str, body: dict[str, Any],
             known: Catalog) -> tuple[tuple[str, str, int], FittedProfile]:
    where = f"profiles.{name}"
    allowed = ("model", "hardware", "tp", "terms", "source")
    for key in body:
        if key not in allowed:
            raise input_error(source, f"{where}.{key}", "unknown field; expected one of "
                              + ", ".join(allowed))
    for key in ("model", "hardware", "terms"):
        if key not in body:
            raise input_error(source, f"{where}.{key}", "missing (required)")
    model, hardware = body["model"], body["hardware"]
    if not isinstance(model, str) or not isinstance(hardware, str):
        raise input_error(source, where, "model and hardware must be names (strings)")
    try:
        known.model(model)
        known.hardware(hardware)
    except UserInputError as exc:
        raise input_error(source, where, str(exc)) from None
    tp = body.get("tp", 1)
    if isinstance(tp, bool) or not isinstance(tp, int) or tp < 1:
        raise input_error(source, f"{where}.tp", f"must be an integer >= 1, got {tp!r}")
    terms = body["terms"]
    if (not isinstance(terms, list)
            or not all(isinstance(t, list) and len(t) == 3 for t in terms)
            or not all(isinstance(x, int | float) and not isinstance(x, bool)
                       for t in terms for x in t)):
        raise input_error(source, f"{where}.terms",
                          "must be a list of [k1, k2, b] number triples")
    label = body.get("source", source)
    if not isinstance(label, str):
        raise input_error(source, f"{where}.source", "must be a string")
    try:
        profile = FittedProfile(name, tuple(tuple(float(x) for x in t) for t in terms), label)
    except ValueError as exc:
        raise input_error(source, f"{where}.terms", str(exc)) from None
    return (normalize(model), normalize(hardware), tp), profile
