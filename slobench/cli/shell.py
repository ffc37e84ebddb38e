"""What every command shares: the Typer app they register on, the consoles, the
command line as typed (secrets hidden) and the one-line problem report. The commands
import this module, and `app.py` imports the commands: no import runs back."""

from __future__ import annotations

import shlex
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from slobench import __version__

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help: it wraps at any width (80 columns in a CI log) and never cuts a word,
    # and no help string is parsed as markup.
    rich_markup_mode=None,
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


argv: list[str] | None = None           # what run_main was given (None: sys.argv)


SECRET_OPTIONS = ("--api-key", "--header")   # their values never reach a file


def command_line() -> str:
    """The command as typed, for run.json and crash logs, secrets hidden: the value of
    --api-key, and each --header's value (its name stays)."""
    args = list(sys.argv[1:] if argv is None else argv)
    for i, a in enumerate(args):
        flag, eq, value = a.partition("=")
        if flag in SECRET_OPTIONS and eq:
            args[i] = f"{flag}={_hidden(flag, value)}"
        elif a in SECRET_OPTIONS and i + 1 < len(args):
            args[i + 1] = _hidden(a, args[i + 1])
    return " ".join(shlex.quote(a) for a in ["slobench", *args])


def _hidden(flag: str, value: str) -> str:
    return f"{value.partition(':')[0]}:***" if flag == "--header" else "***"


def say(problem: str, code: int) -> int:
    """Print `slobench: problem` on one line, literally (a path with `[red]` in it stays
    that path), and return `code`."""
    line = " ".join(problem.split())
    err_console.print(Text(f"slobench: {line}"), soft_wrap=True, highlight=False)
    return code
