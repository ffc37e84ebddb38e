"""Run the `slobench` command line in this process (fast), capturing what it prints."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

from slobench.cli.app import run_main


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def one_line_error(self) -> str:
        """The single `slobench: ...` line a failed command prints (asserts it is one)."""
        lines = [line for line in self.err.splitlines() if line.strip()]
        assert len(lines) == 1, self.err
        assert lines[0].startswith("slobench: "), self.err
        return lines[0]


def invoke(*args: str) -> Ran:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run_main([str(a) for a in args])
    ran = Ran(code, out.getvalue(), err.getvalue())
    assert "Traceback" not in ran.text, ran.text
    return ran
