"""The rule every field check of a hardware or model spec follows (one message form)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def check_fields(spec: Any, kind: str, names: Iterable[str], ok: Callable[[Any], bool],
                 rule: str) -> None:
    """Raise ValueError `<kind> <name>: <field> <rule>, got <value>` for the first of
    `names` whose value `ok` refuses."""
    for field_name in names:
        value = getattr(spec, field_name)
        if not ok(value):
            raise ValueError(f"{kind} {spec.name}: {field_name} {rule}, got {value!r}")


def positive_int(value: Any) -> bool:
    """An integer > 0 (bool, an int subclass, is not one)."""
    return not isinstance(value, bool) and isinstance(value, int) and value > 0
