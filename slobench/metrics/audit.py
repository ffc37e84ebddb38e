"""The admission audit (SPEC §10): every call SLOs-Serve turned away, beside what stock
vLLM did with the same seeded call at the same rate.

A *false reject* is a call `slos` rejected, or served best-effort and late, that
`vllm` served within its SLO (a best-effort call that still made its SLO lost
nothing). `false_reject_share` is false rejects over all calls of the probe (the share
of the workload turned away for nothing); `false_of_turned_away` is over the calls
turned away.
"""

from __future__ import annotations

import pandas as pd

TURNED_AWAY = ("rejected", "best_effort")
_KEYS = ["scenario", "rate", "session_id", "call_index"]


def admission_audit(requests: pd.DataFrame, backend: str = "slos",
                    baseline: str = "vllm") -> pd.DataFrame:
    """One row per (scenario, rate) probed by both backends."""
    ours = requests[requests["backend"] == backend]
    base = requests[requests["backend"] == baseline][[*_KEYS, "attained"]]
    paired = ours.merge(base, on=_KEYS, how="inner", suffixes=("", "_baseline"))
    rows = []
    for (scenario, rate), g in paired.groupby(["scenario", "rate"]):
        away = g[g["status"].isin(TURNED_AWAY)]
        false = away[away["attained_baseline"] & ~away["attained"].astype(bool)]
        reasons = (away["admission_reason"].replace("", "unknown").value_counts()
                   if "admission_reason" in away else pd.Series(dtype=int))
        rows.append({
            "scenario": scenario, "rate": rate, "calls": len(g),
            "turned_away": len(away), "false_rejects": len(false),
            "false_reject_share": len(false) / len(g) if len(g) else float("nan"),
            "false_of_turned_away": len(false) / len(away) if len(away) else 0.0,
            "reasons": ", ".join(f"{k} {v}" for k, v in reasons.items()),
            "false_reasons": ", ".join(
                f"{k} {v}" for k, v in false["admission_reason"].replace("", "unknown")
                .value_counts().items()) if "admission_reason" in false else "",
        })
    return pd.DataFrame(rows)
