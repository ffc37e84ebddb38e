import json
import re

from plotly.offline import get_plotlyjs

from slobench.report.figures import MAX_POINTS
from slobench.report.gains import operating_points
from slobench.report.html import write_report
from slobench.report.latency_figures import cdf_figure
from slobench.report.run_dir import load_run

NASTY = "<b>x</b>"


def _report(make_run, **kwargs) -> str:
    run = load_run(make_run(**kwargs))
    return write_report(run, run.path / "report.html").read_text(encoding="utf-8")


def test_report_has_no_external_references(make_run):
    # The plotly.js bundle itself holds URL strings (e.g. its disabled cloud-share dialog);
    # those are inert text. Everything the page itself loads is checked.
    body = _report(make_run).replace(get_plotlyjs(), "")
    assert not re.search(r"<script[^>]*\ssrc\s*=", body)
    assert "<link" not in body and "<img" not in body and "@import" not in body
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", body)
    assert "url(" not in body  # no CSS fetches (web fonts, backgrounds)
    assert "mathjax" not in body.lower()


def test_report_outside_the_bundle_has_no_urls(make_run):
    page = _report(make_run)
    assert not re.search(r"https?://", page.replace(get_plotlyjs(), ""))


def test_report_embeds_exactly_one_plotly_bundle(make_run):
    page = _report(make_run)
    assert page.count(get_plotlyjs()) == 1
    assert page.count("Plotly.newPlot(") >= 4  # figures are divs using that one bundle


def test_report_escapes_user_strings(make_run):
    page = _report(make_run, scenarios=("chatbot", NASTY), backends=("vllm", "<i>slos</i>"))
    body = page.replace(get_plotlyjs(), "")
    assert "&lt;b&gt;x&lt;/b&gt;" in body
    assert NASTY not in body and "<i>slos</i>" not in body


def test_report_header_shows_command_and_hardware(make_run):
    page = _report(make_run, scenarios=("chatbot",))
    assert "slobench run --scenario chatbot" in page
    assert "H100-80GB" in page


def test_report_without_capacity_rows_still_renders(make_run):
    page = _report(make_run, fixed_rate=True, with_timeline=False)
    assert "fixed-rate run" in page
    assert page.count("Plotly.newPlot(") >= 2


def test_cdf_traces_are_downsampled(make_run):
    run = load_run(make_run(scenarios=("chatbot",), requests_per_probe=3000))
    fig = cdf_figure(run.requests, operating_points(run.summary, run.threshold))
    assert fig is not None
    lengths = [len(trace.x) for trace in fig.data]
    assert max(lengths) <= MAX_POINTS
    assert max(lengths) >= MAX_POINTS - 5  # really is a CDF of the many requests


def test_cdf_is_normalised_by_each_requests_slo(make_run):
    run = load_run(make_run(scenarios=("chatbot",), backends=("vllm",)))
    run.requests["ttft_s"] = run.requests["ttft_slo_s"] * 0.5  # everyone at half their SLO
    fig = cdf_figure(run.requests, operating_points(run.summary, run.threshold))
    ttft_traces = [t for t in fig.data if t.xaxis == "x" and t.name != "SLO"]
    assert ttft_traces and all(set(json.loads(json.dumps(list(t.x)))) == {0.5}
                               for t in ttft_traces)
