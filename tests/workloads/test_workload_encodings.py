"""Files as editors and spreadsheets save them: a trace CSV with a BOM and CRLF lines
(an Excel export) reads like a plain one; a workload that is not UTF-8 is one clear
error naming the file and line; a BOM in a workload TOML is not part of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slobench.core.errors import UserInputError
from slobench.workloads.scenario import load_scenario, workloads_dir
from slobench.workloads.trace import read_trace

ROWS = [("2023-11-16 18:17:03.9799600", 4808, 10), ("2023-11-16 18:17:04.5000000", 12, 0),
        ("2023-11-16 18:17:06.0000000", 300, 7)]


def _csv(rows: list[tuple[str, int, int]], newline: str) -> str:
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"] + [f"{t},{c},{g}" for t, c, g in rows]
    return newline.join(lines) + newline


def test_a_trace_with_a_bom_and_crlf_reads_like_a_plain_one(tmp_path: Path) -> None:
    plain, excel = tmp_path / "plain.csv", tmp_path / "excel.csv"
    plain.write_bytes(_csv(ROWS, "\n").encode())
    excel.write_bytes(b"\xef\xbb\xbf" + _csv(ROWS, "\r\n").encode())
    a, b = read_trace(plain), read_trace(excel)
    assert np.array_equal(a.offsets_s, b.offsets_s)
    assert np.array_equal(a.context_tokens, b.context_tokens)
    assert np.array_equal(a.generated_tokens, b.generated_tokens)


def test_a_trace_that_is_not_utf8_is_one_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "utf16.csv"
    path.write_bytes(_csv(ROWS, "\n").encode("utf-16"))
    with pytest.raises(UserInputError, match=f"^{path}: not a UTF-8 text file"):
        read_trace(path)


def test_a_workload_that_is_not_utf8_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "x"\n# r\xe9sum\xe9\n'.encode("latin-1"))
    with pytest.raises(UserInputError, match=f"^{path}: line 2: not UTF-8 text"):
        load_scenario(str(path))


def test_a_bom_in_a_workload_file_is_not_part_of_it(tmp_path: Path) -> None:
    text = (workloads_dir() / "coding.toml").read_text(encoding="utf-8")
    path = tmp_path / "coding.toml"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert load_scenario(str(path)).name == load_scenario("coding").name
