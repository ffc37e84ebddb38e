"""Async open-loop load generation against OpenAI-compatible servers (SPEC §4)."""

from slobench.engines.http.openloop import LoadGenConfig, LoadResult, run_open_loop

__all__ = ["LoadGenConfig", "LoadResult", "run_open_loop"]
