import pandas as pd
import pytest

from slobench.core.errors import UserInputError
from slobench.report.run_dir import load_run


def test_load_run_reads_all_files_and_run_json(make_run):
    run = load_run(make_run("r1"))
    assert len(run.summary) and len(run.requests) and len(run.timeline)
    assert run.run_id == "r1"
    assert run.threshold == pytest.approx(0.9)


def test_load_run_without_timeline_gives_empty_frame(make_run):
    run = load_run(make_run(with_timeline=False))
    assert run.timeline.empty


def test_missing_folder_is_a_user_error_naming_it(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(UserInputError, match=r"nope.*does not exist"):
        load_run(missing)


def test_missing_summary_is_a_user_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match=r"summary\.parquet: file is missing"):
        load_run(tmp_path / "empty")


def test_missing_column_is_a_user_error_naming_the_column(make_run):
    folder = make_run()
    summary = pd.read_parquet(folder / "summary.parquet").drop(columns=["capacity_rps_per_gpu"])
    summary.to_parquet(folder / "summary.parquet")
    with pytest.raises(UserInputError, match=r"summary\.parquet: capacity_rps_per_gpu"):
        load_run(folder)


def test_unreadable_parquet_is_a_user_error(make_run):
    folder = make_run()
    (folder / "requests.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(UserInputError, match=r"requests\.parquet: cannot read parquet"):
        load_run(folder)


def test_bad_run_json_is_a_user_error(make_run):
    folder = make_run()
    (folder / "run.json").write_text("{broken")
    with pytest.raises(UserInputError, match=r"run\.json"):
        load_run(folder)
