"""Load one results folder (SPEC §8) for the report, compare and gate commands.

Only summary.parquet is required: compare and gate work from it alone, and a
folder copied without its (large) requests.parquet should still gate. Files
that are present but unreadable or lack the columns the report relies on are
the user's problem, reported as one line naming the file and the column. A run
killed part way has its probes' rows as parts (`records/run_tables.py`), read here
as the files they would have become.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from slobench.core.errors import input_error
from slobench.metrics.run_tables import part_files, parts_folder, read_table, table_file

# The columns SPEC §8 promises (plus `kind`, which tells probes from capacity rows).
REQUIRED_SUMMARY = [
    "scenario", "backend", "engine", "kind", "rate", "attainment", "capacity_rps_per_gpu",
    "ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s",
    "sched_overhead_p50_ms", "sched_overhead_p99_ms", "gpus",
]
REQUIRED_REQUESTS = [
    "scenario", "backend", "engine", "rate", "status", "attained",
    "prompt_tokens", "output_tokens", "ttft_s", "tpot_s",
]
REQUIRED_TIMELINE = ["scenario", "backend", "rate", "t_s"]

DEFAULT_THRESHOLD = 0.90


@dataclass
class RunData:
    path: Path
    summary: pd.DataFrame
    requests: pd.DataFrame = field(default_factory=pd.DataFrame)
    timeline: pd.DataFrame = field(default_factory=pd.DataFrame)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        if "run_id" in self.meta:
            return str(self.meta["run_id"])
        if "run_id" in self.summary.columns and len(self.summary):
            return str(self.summary["run_id"].iloc[0])
        return self.path.name

    @property
    def threshold(self) -> float:
        """Attainment threshold the run searched capacity with (run.json, else 0.9)."""
        settings = self.meta.get("settings")
        for source in (settings if isinstance(settings, dict) else {}, self.meta):
            value = source.get("threshold")
            if isinstance(value, int | float) and 0 < value <= 1:
                return float(value)
        return DEFAULT_THRESHOLD


def _read_parquet(path: Path, required: list[str]) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise input_error(str(path), None, f"cannot read parquet ({type(exc).__name__})") from exc
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise input_error(str(path), missing[0], "required column is missing")
    return frame


def _read_table(folder: Path, table: str, required: list[str]) -> pd.DataFrame:
    """requests or timeline: the closed run's file, else a killed run's probe parts
    (`records/run_tables.py`); an empty frame when the folder has neither."""
    if table_file(folder, table).is_file():
        return _read_parquet(table_file(folder, table), required)
    if not part_files(folder, table):
        return pd.DataFrame(columns=required)
    where = parts_folder(folder, table)
    try:
        frame = read_table(folder, table)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise input_error(str(where), None,
                          f"cannot read parquet ({type(exc).__name__})") from exc
    assert frame is not None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise input_error(str(where), missing[0], "required column is missing")
    return frame


def load_run(path: str | Path) -> RunData:
    folder = Path(path)
    if not folder.is_dir():
        raise input_error(str(folder), None, "results folder does not exist")
    summary_path = folder / "summary.parquet"
    if not summary_path.is_file():
        raise input_error(str(folder), "summary.parquet", "file is missing")
    summary = _read_parquet(summary_path, REQUIRED_SUMMARY)
    requests = _read_table(folder, "requests", REQUIRED_REQUESTS)
    timeline = _read_table(folder, "timeline", REQUIRED_TIMELINE)
    return RunData(path=folder, summary=summary, requests=requests, timeline=timeline,
                   meta=_read_meta(folder / "run.json"))


def _read_meta(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise input_error(str(path), None, f"cannot read JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise input_error(str(path), None, "expected a JSON object")
    return meta
