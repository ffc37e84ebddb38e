"""Open a real report in headless Chromium: it must draw, stay offline and log no errors."""

import os
from pathlib import Path

import pytest

from slobench.report.html import write_report
from slobench.report.run_dir import load_run
from tests.support.browser_check import CHROMIUM, check_page, decode_png

pytestmark = pytest.mark.browser

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"{CHROMIUM} not installed (apt-get install chromium); CI installs it",
)


@needs_chromium
def test_report_renders_offline_without_errors(make_run, tmp_path):
    run = load_run(make_run(scenarios=("chatbot", "coding", "<b>x</b>"),
                            backends=("vllm", "sarathi", "slos")))
    report = write_report(run, tmp_path / "report.html")
    shot_dir = os.environ.get("SLOBENCH_SCREENSHOT_DIR")
    shot = Path(shot_dir) / "report.png" if shot_dir else tmp_path / "report.png"

    result = check_page(report, shot)

    assert result.console_errors == []
    assert result.external_requests == []
    assert result.plot_count > 0
    pixels = decode_png(shot.read_bytes())
    assert pixels.shape[0] > 1000 and pixels.shape[1] >= 1000  # the whole page, not a stub
    # A blank or single-colour page has a handful of colours; plots with
    # antialiased lines and text in several hues have thousands.
    assert result.distinct_colours > 500


@needs_chromium
def test_check_page_reports_external_requests_and_errors(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(
        "<html><body><img src='http://192.0.2.1/x.png'>"
        "<script>console.error('boom'); undefinedFunction();</script></body></html>"
    )
    result = check_page(page, tmp_path / "bad.png")
    assert any("192.0.2.1" in url for url in result.external_requests)
    assert any("boom" in e for e in result.console_errors)
    assert any("undefinedFunction" in e for e in result.console_errors)
    assert result.plot_count == 0
