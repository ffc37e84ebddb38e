"""The report's fidelity section (SPEC §10): a real run beside its simulator twin, and
the admission audit. Present only when `slobench run --twin` or `slobench fidelity`
wrote fidelity.parquet / audit.parquet into the run folder."""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd

esc = html.escape


def _cell(v: object) -> str:
    if isinstance(v, bool):
        return "yes" if v else "<b>NO</b>"
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:.3g}"
    return esc(str(v))


def _table(frame: pd.DataFrame, columns: list[tuple[str, str]]) -> str:
    head = "".join(f"<th>{esc(label)}</th>" for _, label in columns)
    rows = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c, _ in columns)
                   + "</tr>" for _, r in frame.iterrows())
    return f'<div class="wide"><table class="num"><tr>{head}</tr>{rows}</table></div>'


POINT_COLUMNS = [("scenario", "scenario"), ("backend", "backend"), ("rate", "rate /s"),
                 ("attainment_real", "attain real"), ("attainment_twin", "attain twin"),
                 ("ttft_p50_s_real", "TTFT p50 real"), ("ttft_p50_s_twin", "TTFT p50 twin"),
                 ("ttft_p99_s_real", "TTFT p99 real"), ("ttft_p99_s_twin", "TTFT p99 twin"),
                 ("tpot_p99_s_real", "TPOT p99 real"), ("tpot_p99_s_twin", "TPOT p99 twin"),
                 ("rejected_share_real", "rejected real"),
                 ("rejected_share_twin", "rejected twin"), ("agrees", "agree (±0.15)")]
CAPACITY_COLUMNS = [("scenario", "scenario"), ("backend", "backend"),
                    ("capacity_real", "capacity real /s"), ("bound_real", "bound"),
                    ("capacity_twin", "capacity twin /s"), ("bound_twin", "bound"),
                    ("capacity_rel_gap", "twin/real − 1"), ("agrees", "agree (±25%)")]
AUDIT_COLUMNS = [("source", "run"), ("scenario", "scenario"), ("rate", "rate /s"),
                 ("calls", "calls"), ("turned_away", "rejected or best-effort"),
                 ("false_rejects", "false rejects"),
                 ("false_reject_share", "false-reject share"), ("reasons", "reasons"),
                 ("false_reasons", "reasons of false rejects")]


def fidelity_section(run_dir: Path) -> str:
    parts = []
    fid_path, audit_path = run_dir / "fidelity.parquet", run_dir / "audit.parquet"
    if fid_path.exists():
        fid = pd.read_parquet(fid_path)
        points, caps = fid[fid["kind"] == "point"], fid[fid["kind"] == "capacity"]
        parts.append("<h2>Fidelity: real run vs simulator twin</h2><p class=\"note\">The "
                     "twin replays this run on the simulator with a step-time profile "
                     "fitted from the steps the replicas logged (SPEC §10). Rows marked NO "
                     "disagree beyond the tolerance.</p>")
        parts.append(_table(points, POINT_COLUMNS))
        if len(caps):
            parts.append(_table(caps, CAPACITY_COLUMNS))
    if audit_path.exists():
        audit = pd.read_parquet(audit_path)
        parts.append("<h2>Admission audit</h2><p class=\"note\">Every call SLOs-Serve "
                     "rejected or served best-effort, beside stock vLLM's handling of the "
                     "same seeded call at the same rate: a false reject is one vLLM served "
                     "within its SLO. Share: of all calls at that rate.</p>")
        parts.append(_table(audit, AUDIT_COLUMNS))
    return "\n".join(parts)
