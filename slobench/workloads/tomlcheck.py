"""Small checks for values read from workload TOML files.

Every check raises `input_error(source, field, problem)` so that a bad file
gives one line naming the file and the dotted field, never a traceback.
"""

from __future__ import annotations

from typing import Any

from slobench.core.errors import input_error


def describe(value: Any) -> str:
    """How a value reads in an error message: its TOML type and the value itself."""
    names = {bool: "boolean", int: "integer", float: "number", str: "string",
             list: "array", dict: "table"}
    kind = names.get(type(value), type(value).__name__)
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{kind} {shown}"


def join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def check_keys(
    table: dict[str, Any], source: str, where: str, required: set[str], optional: set[str]
) -> None:
    """Refuse unknown keys (typos would otherwise be silently ignored) and missing ones."""
    allowed = required | optional
    for key in table:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise input_error(source, join(where, key), f"unknown key (expected one of: {known})")
    for key in sorted(required):
        if key not in table:
            raise input_error(source, join(where, key), "missing required field")


def as_table(value: Any, source: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise input_error(source, where, f"expected a table, got {describe(value)}")
    return value


def as_str(value: Any, source: str, where: str, choices: tuple[str, ...] = ()) -> str:
    if not isinstance(value, str):
        raise input_error(source, where, f"expected a string, got {describe(value)}")
    if choices and value not in choices:
        raise input_error(
            source, where, f"unknown value {value!r} (expected one of: {', '.join(choices)})"
        )
    return value


def as_number(
    value: Any, source: str, where: str, *, positive: bool = False, non_negative: bool = False
) -> float:
    # bool is an int subclass in Python, but `true` is never a sensible number in a file.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise input_error(source, where, f"expected a number, got {describe(value)}")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise input_error(source, where, f"expected a finite number, got {value}")
    if positive and number <= 0:
        raise input_error(source, where, f"must be > 0, got {value}")
    if non_negative and number < 0:
        raise input_error(source, where, f"must be >= 0, got {value}")
    return number


def as_int(value: Any, source: str, where: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise input_error(source, where, f"expected an integer, got {describe(value)}")
    if minimum is not None and value < minimum:
        raise input_error(source, where, f"must be >= {minimum}, got {value}")
    return value
