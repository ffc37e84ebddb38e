"""Errors from a real engine at run time (a server that will not start or that died)."""

from __future__ import annotations


class EngineError(RuntimeError):
    """The engine failed while running: the CLI prints it and exits non-zero (1)."""
