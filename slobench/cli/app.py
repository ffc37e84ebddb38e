"""The `slobench` command line: thin, it parses options and calls into the package."""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

try:                          # typer >= 0.2x carries its own copy of Click
    from typer._click import exceptions as click_errors
except ImportError:           # older typer, on Click itself
    from click import exceptions as click_errors  # type: ignore[no-redef]

from slobench import __version__
from slobench.core.errors import UserInputError

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


_argv: list[str] | None = None          # what run_main was given (None: sys.argv)


SECRET_OPTIONS = ("--api-key", "--header")   # their values never reach a file


def command_line() -> str:
    """The command as typed, for run.json and crash logs, secrets hidden: the value of
    --api-key, and each --header's value (its name stays)."""
    args = list(sys.argv[1:] if _argv is None else _argv)
    for i, a in enumerate(args):
        flag, eq, value = a.partition("=")
        if flag in SECRET_OPTIONS and eq:
            args[i] = f"{flag}={_hidden(flag, value)}"
        elif a in SECRET_OPTIONS and i + 1 < len(args):
            args[i + 1] = _hidden(a, args[i + 1])
    return " ".join(shlex.quote(a) for a in ["slobench", *args])


def _hidden(flag: str, value: str) -> str:
    return f"{value.partition(':')[0]}:***" if flag == "--header" else "***"


def main(argv: list[str] | None = None) -> None:
    """Run the command line and exit with SPEC §11's status: 0 success, 1 a failed gate or
    run or an internal error, 2 bad input, 130 interrupted. No traceback reaches the
    terminal: an internal error prints one line and the path of a full log."""
    sys.exit(run_main(argv))


def run_main(argv: list[str] | None = None) -> int:
    global _argv
    _argv = argv
    try:
        code = app(args=argv, standalone_mode=False)
    except UserInputError as exc:
        return say(str(exc), 2)
    except click_errors.NoArgsIsHelpError as exc:
        exc.show()
        return exc.exit_code
    except click_errors.ClickException as exc:
        return say(_click_problem(exc), exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        return say("interrupted", 130)
    except Exception as exc:
        log = _crash_log()
        return say(f"internal error: {type(exc).__name__}: {exc} (full log: {log})", 1)
    return code if isinstance(code, int) else 0


def say(problem: str, code: int) -> int:
    """Print `slobench: problem` on one line, literally (a path with `[red]` in it stays
    that path), and return `code`."""
    line = " ".join(problem.split())
    err_console.print(Text(f"slobench: {line}"), soft_wrap=True, highlight=False)
    return code


def _click_problem(exc: click_errors.ClickException) -> str:
    """Click's parse errors in our shape: `--option: problem`."""
    param = getattr(exc, "param", None)
    if param is not None:
        hint = next((o for o in param.opts if o.startswith("--")), None) or (
            param.human_readable_name)
        if isinstance(exc, click_errors.MissingParameter):
            return f"{hint}: missing (see --help)"
        return f"{hint}: {exc.message}"
    if isinstance(exc, click_errors.NoSuchOption):
        maybe = sorted(exc.possibilities or [])
        return f"{exc.option_name}: no such option" + (
            f" (did you mean {', '.join(maybe)}?)" if maybe else "")
    if isinstance(exc, click_errors.BadOptionUsage):
        return f"{exc.option_name}: {exc.message}"
    return exc.format_message()


def _crash_log() -> str:
    """Write the traceback of the exception being handled to a log file; return its path."""
    folder = Path(tempfile.gettempdir()) / "slobench-logs"
    path = folder / f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{command_line()}\n\n{traceback.format_exc()}", encoding="utf-8")
    except OSError:
        traceback.print_exc()          # the last place left to put it
        return "none: the temporary folder is not writable; traceback above"
    return str(path)


def _register() -> None:
    from slobench.cli import (
        commands,  # noqa: F401
        instrument_commands,  # noqa: F401
        perf_command,  # noqa: F401
        report_commands,  # noqa: F401
        serve_command,  # noqa: F401
    )


_register()

__all__ = ["Path", "app", "command_line", "console", "err_console", "main", "run_main", "say"]
