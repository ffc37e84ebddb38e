"""The `slobench` command line: thin, it parses options and calls into the package."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import typer

try:                          # typer >= 0.2x carries its own copy of Click
    from typer._click import exceptions as click_errors
except ImportError:           # older typer, on Click itself
    from click import exceptions as click_errors  # type: ignore[no-redef]

from slobench.cli import shell
from slobench.cli.shell import app, command_line, console, err_console, say
from slobench.core.errors import UserInputError


def main(argv: list[str] | None = None) -> None:
    """Run the command line and exit with SPEC §11's status: 0 success, 1 a failed gate or
    run or an internal error, 2 bad input, 130 interrupted. No traceback reaches the
    terminal: an internal error prints one line and the path of a full log."""
    sys.exit(run_main(argv))


def run_main(argv: list[str] | None = None) -> int:
    shell.argv = argv
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
