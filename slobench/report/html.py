"""report.html: one self-contained page per run (SPEC §8).

The page must work offline and leak nothing: plotly.js is inlined once, each
figure is a bare div (`include_plotlyjs=False`, no MathJax), there are no
<link>s, fonts or remote images, and every user string is HTML-escaped.
"""

from __future__ import annotations

import html
import json
import os
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from slobench.report import engine_figures, figures, latency_figures
from slobench.report.fidelity_section import fidelity_section
from slobench.report.gains import capacity_table, operating_points
from slobench.report.run_dir import RunData
from slobench.report.tables import capacity_html, ops_html

esc = html.escape

# showSendToCloud: plotly.js 3's default "Share chart" button uploads the figure to
# Plotly Cloud; an offline report must not offer that.
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "showSendToCloud": False}

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #222; background: #fafafa; }
main { max-width: 1400px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 1.5rem; margin: 8px 0 4px; }
h2 { font-size: 1.15rem; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dl.meta dt { font-weight: 600; color: #555; }
dl.meta dd { margin: 0; font-family: ui-monospace, monospace; font-size: 0.85rem;
             overflow-wrap: anywhere; }
table.num { border-collapse: collapse; font-size: 0.9rem; background: #fff; }
table.num th, table.num td { border: 1px solid #ddd; padding: 4px 10px; text-align: right; }
table.num th:first-child, table.num td:first-child { text-align: left; }
table.num tr.total td { font-weight: 700; background: #f0f4fa; }
table.num th[colspan] { text-align: center; }
table.ops { font-size: 0.8rem; }
table.ops th, table.ops td { padding: 3px 6px; }
.wide { overflow-x: auto; }
.figure { background: #fff; border: 1px solid #e4e4e4; margin: 12px 0; padding: 4px; }
.note { color: #666; font-size: 0.85rem; }
"""


def write_report(run: RunData, out_path: str | Path) -> Path:
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(out, render_report(run))


def write_atomic(path: Path, text: str) -> Path:
    """Write through a temporary file and a rename: a crash leaves the last good file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def render_report(run: RunData) -> str:
    threshold = run.threshold
    table = capacity_table(run.summary)
    ops = operating_points(run.summary, threshold)
    sections = [_header(run, threshold)]
    sections.append("<h2>Headline: capacity per GPU and gains</h2>")
    sections.append(capacity_html(run.summary) if not table.empty else
                    '<p class="note">No capacity rows: this was a fixed-rate run.</p>')
    sections.append("<h2>Operating points</h2>" + ops_html(ops))
    sections.append("<h2>Figures</h2>")
    figs: list[go.Figure | None] = [figures.attainment_figure(run.summary, threshold)]
    if not table.empty:
        figs.append(figures.capacity_figure(run.summary))
    figs += [latency_figures.cdf_figure(run.requests, ops),
             engine_figures.timeline_figure(run.timeline, ops),
             engine_figures.overhead_figure(ops)]
    sections += [figure_div(f) for f in figs if f is not None]
    sections.append(fidelity_section(run.path))
    return page(f"slobench report: {run.run_id}", "\n".join(sections))


def page(title: str, body: str) -> str:
    """The whole document; plotly.js goes in the head once so every div can use it."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{esc(title)}</title><style>{STYLE}</style>"
        f"<script type=\"text/javascript\">{_inline_js(get_plotlyjs())}</script></head>"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )


def _inline_js(source: str) -> str:
    # A literal "</script" inside the bundle would end the tag early; today's bundle has none.
    return source.replace("</script", "<\\/script")


def figure_div(fig: go.Figure) -> str:
    div = fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False,
                      config=PLOTLY_CONFIG)
    return f'<div class="figure">{div}</div>'


def _header(run: RunData, threshold: float) -> str:
    meta = run.meta
    engines = sorted({str(e) for e in run.summary["engine"].dropna()})
    rows = [
        ("run", run.run_id), ("engine", ", ".join(engines) or "?"),
        ("hardware", _plain(meta.get("hardware", "?"))),
        ("command", _command(meta.get("command", "?"))),
        ("attainment threshold", f"{threshold:.0%}"),
    ]
    rows += [(key, _plain(meta[key])) for key in ("versions", "seeds", "calibration")
             if key in meta]
    rows.append(("report written", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")))
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(str(v))}</dd>" for k, v in rows)
    return f"<h1>slobench report: {esc(run.run_id)}</h1><dl class=\"meta\">{items}</dl>"


def _command(value: Any) -> str:
    if isinstance(value, list):
        return shlex.join(str(v) for v in value)
    return str(value)


def _plain(value: Any) -> str:
    """Dicts as `k=v, ...`; anything deeper as compact JSON (it is shown, not parsed)."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v if not isinstance(v, dict | list) else json.dumps(v)}"
                         for k, v in value.items())
    return str(value)
