"""Read an LLM inference trace in the Azure LLM inference trace 2023 CSV format.

    TIMESTAMP,ContextTokens,GeneratedTokens
    2023-11-16 18:17:03.9799600,4808,10

TIMESTAMP may also be plain seconds (a number), for users' own traces. The file
is read from a path the user gives; slobench never ships a copy of a trace.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from slobench.core.errors import input_error

log = logging.getLogger(__name__)

COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")

# Azure writes 7 fractional digits, which strptime's %f (6 at most) refuses,
# so the fraction is parsed separately.
_EPOCH = datetime(1970, 1, 1)
_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d+))?$")


@dataclass(frozen=True)
class TraceWindow:
    """The requests of a trace inside a time window, sorted by arrival."""

    path: str
    offsets_s: np.ndarray          # seconds from the window start
    context_tokens: np.ndarray     # int64
    generated_tokens: np.ndarray   # int64
    window_start_s: float
    window_s: float | None

    def __len__(self) -> int:
        return len(self.offsets_s)

    @property
    def span_s(self) -> float:
        """Seconds from the first to the last request in the window."""
        return float(self.offsets_s[-1] - self.offsets_s[0]) if len(self) else 0.0


def _parse_time(text: str) -> float | None:
    """Seconds since the epoch (naive, consistent within a file), or None if unparseable."""
    text = text.strip()
    try:
        value = float(text)
        return value if math.isfinite(value) else None   # nan/inf: no place in time
    except ValueError:
        pass
    match = _STAMP.match(text)
    if not match:
        return None
    date, clock, fraction = match.groups()
    try:
        # Subtracting a naive epoch (not .timestamp()) keeps local DST out of the gaps.
        whole = (datetime.fromisoformat(f"{date} {clock}") - _EPOCH).total_seconds()
    except ValueError:
        return None
    return whole + (float(f"0.{fraction}") if fraction else 0.0)


def _parse_tokens(text: str) -> int | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if value < 0 or value != int(value):
        return None
    return int(value)


def read_trace(
    path: str | Path, window_start_s: float = 0.0, window_s: float | None = None
) -> TraceWindow:
    """Read the trace at `path`, keeping requests in [start, start + window_s) seconds
    after the first timestamp. Raise UserInputError for any problem with the file."""
    src = str(path)
    p = Path(path)
    if not p.is_file():
        raise input_error(src, None, "trace file not found")
    if window_start_s < 0:
        raise input_error(src, "window_start_s", f"must be >= 0, got {window_start_s}")
    if window_s is not None and window_s <= 0:
        raise input_error(src, "window_s", f"must be > 0, got {window_s}")
    rows = _read_rows(src, p)
    if not rows:
        raise input_error(src, None, "trace has no rows")
    trace = _window(src, rows, window_start_s, window_s)
    log.debug("%s: %d of %d requests in the window", src, len(trace), len(rows))
    return trace


def _read_rows(src: str, p: Path) -> list[tuple[float, int, int]]:
    """(timestamp, context tokens, generated tokens) of every row, in file order."""
    try:
        # utf-8-sig: an Excel export starts with a BOM, which would stick to TIMESTAMP.
        with p.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            for column in COLUMNS:
                if column not in header:
                    raise input_error(src, column, f"missing column (header: {','.join(header)})")
            # Row numbers count the header as line 1, as an editor shows them.
            return [_parse_row(src, line, row) for line, row in enumerate(reader, start=2)]
    except UnicodeDecodeError as exc:
        raise input_error(src, None, f"not a UTF-8 text file ({exc.reason})") from None
    except OSError as exc:
        raise input_error(src, None, f"cannot read: {exc.strerror}") from None


def _parse_row(src: str, line: int, row: dict[str, str]) -> tuple[float, int, int]:
    stamp = _parse_time(row["TIMESTAMP"] or "")
    if stamp is None:
        raise input_error(src, f"line {line}: TIMESTAMP",
                          f"cannot parse {row['TIMESTAMP']!r} as a time")
    tokens = []
    for column in COLUMNS[1:]:
        value = _parse_tokens(row[column] or "")
        if value is None:
            raise input_error(src, f"line {line}: {column}",
                              f"expected a non-negative integer, got {row[column]!r}")
        tokens.append(value)
    return stamp, tokens[0], tokens[1]


def _window(src: str, rows: list[tuple[float, int, int]], window_start_s: float,
            window_s: float | None) -> TraceWindow:
    """The rows sorted by time, from the first timestamp on, inside the window."""
    times, context, generated = zip(*rows, strict=True)
    t = np.asarray(times, dtype=float)
    order = np.argsort(t, kind="stable")  # tolerate unsorted files
    t = t[order] - t[order[0]]
    keep = t >= window_start_s
    if window_s is not None:
        keep &= t < window_start_s + window_s
    if not keep.any():
        field = "window_s" if window_s is not None else "window_start_s"
        raise input_error(src, field, f"no requests in window starting at {window_start_s:g} s "
                          f"(trace spans {t[-1]:g} s)")
    return TraceWindow(
        path=src,
        offsets_s=t[keep] - window_start_s,
        context_tokens=np.asarray(context, dtype=np.int64)[order][keep],
        generated_tokens=np.asarray(generated, dtype=np.int64)[order][keep],
        window_start_s=window_start_s,
        window_s=window_s,
    )
