import io
import re

import pytest
from plotly.offline import get_plotlyjs
from rich.console import Console

from slobench.core.errors import UserInputError
from slobench.report.compare import compare_runs, render_compare, write_compare_html
from slobench.report.run_dir import load_run


def test_compare_gives_deltas_against_the_first_run(make_run):
    first = make_run("first", capacity={("chatbot", "slos"): 4.0})
    second = make_run("second", capacity={("chatbot", "slos"): 5.0})
    frame = compare_runs([first, second]).set_index(["run", "scenario", "backend"])
    assert frame.loc[("first", "chatbot", "slos"), "capacity_rps_per_gpu"] == pytest.approx(2.0)
    assert frame.loc[("second", "chatbot", "slos"), "capacity_rps_per_gpu_delta"] == (
        pytest.approx(0.25))
    assert frame.loc[("second", "chatbot", "slos"), "gain_vs_vllm"] == pytest.approx(2.5)
    assert frame.loc[("first", "chatbot", "slos"), "capacity_rps_per_gpu_delta"] == 0.0
    for column in ("ttft_p99_s", "tpot_p99_s", "sched_overhead_p99_ms"):
        assert frame[column].notna().all()


def test_compare_keeps_pairs_only_one_run_has(make_run):
    frame = compare_runs([make_run("a", backends=("vllm",)),
                          make_run("b", backends=("vllm", "slos"))])
    slos = frame[frame["backend"] == "slos"]
    assert list(slos["run"]) == ["b", "b"]
    assert slos["capacity_rps_per_gpu_delta"].isna().all()


def test_compare_needs_at_least_one_folder():
    with pytest.raises(UserInputError):
        compare_runs([])


def test_render_compare_prints_each_run(make_run):
    frame = compare_runs([make_run("a"), make_run("b")])
    buffer = io.StringIO()
    render_compare(frame, Console(file=buffer, width=200, color_system=None))
    text = buffer.getvalue()
    assert "chatbot" in text and " a " in text and " b " in text and "%" in text


def test_compare_html_is_self_contained_and_escaped(make_run):
    paths = [make_run("a", scenarios=("<b>x</b>",)), make_run("b", scenarios=("<b>x</b>",))]
    frame = compare_runs(paths)
    out = write_compare_html(frame, [load_run(p) for p in paths], paths[0] / "compare.html")
    page = out.read_text(encoding="utf-8")
    assert page.count(get_plotlyjs()) == 1
    body = page.replace(get_plotlyjs(), "")
    assert "<link" not in body and not re.search(r"<script[^>]*\ssrc", body)
    assert not re.search(r"https?://", body)
    assert "&lt;b&gt;x&lt;/b&gt;" in body and "<b>x</b>" not in body
