"""The `slobench` command line: thin, it parses options and calls into the package."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from slobench import __version__
from slobench.errors import UserInputError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    help="Benchmark LLM serving against per-application latency SLOs: how many requests "
         "per second per GPU a backend takes while the SLOs hold (vLLM vs SLOs-Serve).",
)
console = Console()
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        console.print(f"slobench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """slobench command line."""


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in ["slobench", *sys.argv[1:]])


def main() -> None:
    try:
        app()
    except UserInputError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


def _register() -> None:
    from slobench.cli import (
        commands,  # noqa: F401
        instrument_commands,  # noqa: F401
        perf_command,  # noqa: F401
    )


_register()

__all__ = ["Path", "app", "command_line", "console", "err_console", "main"]
