"""The two kinds of failure slobench reports: bad input (one line, exit 2, before any
work) and an engine that failed at run time (exit 1, results so far kept)."""

from __future__ import annotations


class UserInputError(Exception):
    """Bad input from the user: a malformed workload, trace, option or results folder.

    The message names the file and the field where it can, in one line.
    """

    exit_code = 2


class EngineError(RuntimeError):
    """The engine failed while running (a server that will not start or that died): the
    CLI prints it and exits non-zero (1)."""


def input_error(source: str, field: str | None, problem: str) -> UserInputError:
    """Build the one-line message `source: field: problem` (field omitted when None)."""
    where = f"{source}: {field}" if field else source
    return UserInputError(f"{where}: {problem}")
