"""Writes a run folder as results come in, so an interrupted run keeps what it measured."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from slobench.core.errors import input_error
from slobench.metrics.records import RequestRecord, records_frame
from slobench.metrics.run_tables import PER_PROBE_TABLES, combine_parts, write_part
from slobench.metrics.summary_schema import SUMMARY_COLUMNS, TIMELINE_COLUMNS, SummaryRow
from slobench.report.html import write_atomic

# What a run leaves in its folder; an existing run is recognised by any of them.
RUN_FILES = ("run.json", "summary.parquet", "requests.parquet", "timeline.parquet",
             "stalled_requests.parquet", "report.html", "fidelity.parquet", "audit.parquet",
             "twin_requests.parquet", "twin.json")
# Real engines: logged steps, SLOs-Serve server logs; any run not closed: its probes' parts.
RUN_FOLDERS = ("steps", "slos", *(f"{t}.parts" for t in PER_PROBE_TABLES))


def _atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(".parquet.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def writable_folder(path: Path, option: str) -> Path:
    """Make `path` (and its parents) and prove a file can be written in it."""
    if path.exists() and not path.is_dir():
        raise input_error(option, None, f"{path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".slobench-write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise input_error(option, None, f"cannot write in {path}: "
                          f"{exc.strerror or exc}") from None
    return path


def fresh_run_folder(folder: Path) -> Path:
    """`folder`, or `folder-2`, `folder-3`, ... when a run already took it (default ids)."""
    candidate, k = folder, 1
    while candidate.exists():
        k += 1
        candidate = folder.with_name(f"{folder.name}-{k}")
    return candidate


def prepare_run_folder(folder: Path, force: bool) -> Path:
    """The --out rule: a new or empty folder, or one holding no run. An earlier run is
    refused (results are never overwritten in place) unless --force, which removes its
    files first so that nothing stale (an old report.html) sits beside the new run."""
    found = [n for n in (*RUN_FILES, *RUN_FOLDERS) if (folder / n).exists()]
    found += [p.name for p in folder.glob("server-*.log")] if folder.is_dir() else []
    if found and not force:
        raise input_error("--out", None, f"{folder} holds an earlier run ({found[0]}); "
                          "choose a new folder or pass --force to replace it")
    for name in found:
        target = folder / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    return writable_folder(folder, "--out")


class RunWriter:
    """Each probe's requests and timeline rows are written once, as a complete Parquet
    part of their own (`records/run_tables.py`), the moment the probe finishes: a run
    killed at any point keeps every finished probe, and writing stays linear in the
    probes. `close()` (the campaign's, on success and on any abort it catches) combines
    the parts into requests.parquet and timeline.parquet. summary.parquet and run.json
    are rewritten, atomically, at every flush (they are small)."""

    def __init__(self, out_dir: Path, meta: dict[str, Any]) -> None:
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self.meta = meta
        self.summary_rows: list[SummaryRow] = []
        self._probes = 0
        self._closed = False
        self._discarded: list[pd.DataFrame] = []

    def add_probe(self, records: list[RequestRecord], summary_row: SummaryRow,
                  timeline: list[tuple]) -> None:
        if self._closed:
            raise RuntimeError(f"{self.out_dir}: the run's files were already completed")
        write_part(self.out_dir, "requests", self._probes, records_frame(records))
        if timeline:
            write_part(self.out_dir, "timeline", self._probes,
                       pd.DataFrame(timeline, columns=TIMELINE_COLUMNS))
        self._probes += 1
        self.summary_rows.append(summary_row)
        self.flush()

    def add_discarded(self, records: list[RequestRecord]) -> None:
        """A probe thrown away (the client stalled) and run again: kept apart, not lost."""
        self._discarded.append(records_frame(records))

    def add_capacity(self, row: SummaryRow) -> None:
        self.summary_rows.append(row)

    def summary_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame([row.as_dict() for row in self.summary_rows])
        for col in SUMMARY_COLUMNS:
            if col not in frame:
                frame[col] = math.nan
        extra = [c for c in frame.columns if c not in SUMMARY_COLUMNS]
        return frame[SUMMARY_COLUMNS + extra]

    def flush(self) -> None:
        _atomic_parquet(self.summary_frame(), self.out_dir / "summary.parquet")
        if self._discarded:
            _atomic_parquet(pd.concat(self._discarded, ignore_index=True),
                            self.out_dir / "stalled_requests.parquet")
        write_atomic(self.out_dir / "run.json", json.dumps(self.meta, indent=2, default=str))

    def close(self) -> None:
        """Complete the run's files (idempotent): the parts become requests.parquet and
        timeline.parquet (an empty timeline when no probe logged one)."""
        self._closed = True
        combine_parts(self.out_dir, "requests")
        combine_parts(self.out_dir, "timeline", pd.DataFrame([], columns=TIMELINE_COLUMNS))
        self.flush()
