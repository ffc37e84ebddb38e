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
import pyarrow as pa
import pyarrow.parquet as pq

from slobench.errors import input_error
from slobench.records.record import RequestRecord, records_frame
from slobench.records.summary_schema import SUMMARY_COLUMNS, TIMELINE_COLUMNS
from slobench.report.html import write_atomic

# What a run leaves in its folder; an existing run is recognised by any of them.
RUN_FILES = ("run.json", "summary.parquet", "requests.parquet", "timeline.parquet",
             "stalled_requests.parquet", "report.html", "fidelity.parquet", "audit.parquet",
             "twin_requests.parquet", "twin.json",
             "requests.parquet.partial", "timeline.parquet.partial")   # an unclosed run
RUN_FOLDERS = ("steps", "slos")      # real engines: logged steps, SLOs-Serve server logs


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


class _ParquetStream:
    """One Parquet file grown by a row group per probe: each probe's rows are written
    once, not the whole file again after every probe. The file is valid once closed;
    until then it is `<name>.partial`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._partial = path.with_suffix(".parquet.partial")
        self._writer: pq.ParquetWriter | None = None

    @property
    def started(self) -> bool:
        return self._writer is not None

    def append(self, frame: pd.DataFrame) -> None:
        if self._writer is None:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            self._writer = pq.ParquetWriter(self._partial, table.schema)
        else:
            table = pa.Table.from_pandas(frame, schema=self._writer.schema, preserve_index=False)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            os.replace(self._partial, self.path)


class RunWriter:
    """requests.parquet and timeline.parquet grow a row group per probe and are complete
    once `close()` ran (the campaign closes on success and on an abort it catches);
    summary.parquet and run.json are rewritten at every flush (they are small)."""

    def __init__(self, out_dir: Path, meta: dict[str, Any]) -> None:
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self.meta = meta
        self.summary_rows: list[dict[str, Any]] = []
        self._requests = _ParquetStream(out_dir / "requests.parquet")
        self._timeline = _ParquetStream(out_dir / "timeline.parquet")
        self._discarded: list[pd.DataFrame] = []

    def add_probe(self, records: list[RequestRecord], summary_row: dict[str, Any],
                  timeline: list[tuple]) -> None:
        self._requests.append(records_frame(records))
        if timeline:
            self._timeline.append(pd.DataFrame(timeline, columns=TIMELINE_COLUMNS))
        self.summary_rows.append(summary_row)
        self.flush()

    def add_discarded(self, records: list[RequestRecord]) -> None:
        """A probe thrown away (the client stalled) and run again: kept apart, not lost."""
        self._discarded.append(records_frame(records))

    def add_capacity(self, row: dict[str, Any]) -> None:
        self.summary_rows.append(row)

    def summary_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.summary_rows)
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
        """Complete the run's files (idempotent)."""
        self._requests.close()
        if self._timeline.started:
            self._timeline.close()
        elif not (self.out_dir / "timeline.parquet").exists():
            _atomic_parquet(pd.DataFrame([], columns=TIMELINE_COLUMNS),
                            self.out_dir / "timeline.parquet")
        self.flush()
