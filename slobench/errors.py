"""Errors that the CLI turns into one clear line and exit status 2."""

from __future__ import annotations


class UserInputError(Exception):
    """Bad input from the user: a malformed workload, trace, option or results folder.

    The message names the file and the field where it can, in one line.
    """

    exit_code = 2


def input_error(source: str, field: str | None, problem: str) -> UserInputError:
    """Build the one-line message `source: field: problem` (field omitted when None)."""
    where = f"{source}: {field}" if field else source
    return UserInputError(f"{where}: {problem}")
