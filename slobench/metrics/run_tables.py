"""A run folder's per-probe tables (requests, timeline) as they sit on disk (SPEC §11).

While a run goes, each probe's rows are one complete Parquet file of their own,
`<table>.parts/<k>.parquet` (written under a temporary name, then renamed), so that a
run killed at any moment leaves every finished probe on disk and nothing is rewritten
in place: writing stays linear in the probes. Closing the run combines the parts into
`<table>.parquet` (again through a temporary name) and removes the parts folder.

`read_table` is how every reader of a run folder gets such a table: the combined file
when there is one (it is renamed into place only once complete), else the parts so
far, in probe order, combined exactly as closing would combine them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

PER_PROBE_TABLES = ("requests", "timeline")


def parts_folder(folder: Path, table: str) -> Path:
    return folder / f"{table}.parts"


def table_file(folder: Path, table: str) -> Path:
    return folder / f"{table}.parquet"


def part_files(folder: Path, table: str) -> list[Path]:
    """The finished parts in probe order (a temporary `.tmp` part is not finished)."""
    parts = parts_folder(folder, table)
    if not parts.is_dir():
        return []
    found = [p for p in parts.glob("*.parquet") if p.stem.isdigit()]
    return sorted(found, key=lambda p: int(p.stem))


def write_part(folder: Path, table: str, index: int, frame: pd.DataFrame) -> Path:
    """One probe's rows as a complete Parquet file, renamed into place when written."""
    parts = parts_folder(folder, table)
    parts.mkdir(parents=True, exist_ok=True)
    path = parts / f"{index:06d}.parquet"
    tmp = path.with_name(f"{path.name}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return path


def _combine(parts: list[Path]) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def has_table(folder: Path, table: str) -> bool:
    return table_file(folder, table).is_file() or bool(part_files(folder, table))


def read_table(folder: Path, table: str) -> pd.DataFrame | None:
    """The table's rows: the combined file, else the finished parts; None if neither."""
    combined = table_file(folder, table)
    if combined.is_file():
        return pd.read_parquet(combined)
    parts = part_files(folder, table)
    return _combine(parts) if parts else None


def read_requests(folder: Path) -> pd.DataFrame | None:
    """requests.parquet's rows, of a closed run or of one killed part way."""
    return read_table(folder, "requests")


def combine_parts(folder: Path, table: str, empty: pd.DataFrame | None = None) -> None:
    """Close the table: its parts become `<table>.parquet` (through a temporary file and
    a rename), then the parts folder goes. With no parts, `empty` is written if given
    and no file exists yet. Idempotent; a crash at any point loses no rows (the parts
    stay until the combined file is in place, and readers prefer that file)."""
    path = table_file(folder, table)
    if not path.exists():           # (it exists: a close that was cut short after it)
        parts = part_files(folder, table)
        frame = _combine(parts) if parts else empty
        if frame is not None:
            tmp = path.with_name(f"{path.name}.tmp")
            frame.to_parquet(tmp, index=False)
            os.replace(tmp, path)
    shutil.rmtree(parts_folder(folder, table), ignore_errors=True)
