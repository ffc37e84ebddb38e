"""Writes a run folder as results come in, so an interrupted run keeps what it measured."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from slobench.records.record import RequestRecord, records_frame
from slobench.records.summary_schema import SUMMARY_COLUMNS, TIMELINE_COLUMNS


def _atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(".parquet.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


class RunWriter:
    def __init__(self, out_dir: Path, meta: dict[str, Any]) -> None:
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self.meta = meta
        self._records: list[pd.DataFrame] = []
        self.summary_rows: list[dict[str, Any]] = []
        self._timeline: list[tuple] = []
        self._discarded: list[pd.DataFrame] = []

    def add_probe(self, records: list[RequestRecord], summary_row: dict[str, Any],
                  timeline: list[tuple]) -> None:
        self._records.append(records_frame(records))
        self.summary_rows.append(summary_row)
        self._timeline.extend(timeline)
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
        if self._records:
            _atomic_parquet(pd.concat(self._records, ignore_index=True),
                            self.out_dir / "requests.parquet")
        _atomic_parquet(self.summary_frame(), self.out_dir / "summary.parquet")
        if self._discarded:
            _atomic_parquet(pd.concat(self._discarded, ignore_index=True),
                            self.out_dir / "stalled_requests.parquet")
        _atomic_parquet(pd.DataFrame(self._timeline, columns=TIMELINE_COLUMNS),
                        self.out_dir / "timeline.parquet")
        tmp = self.out_dir / "run.json.tmp"
        tmp.write_text(json.dumps(self.meta, indent=2, default=str))
        os.replace(tmp, self.out_dir / "run.json")
