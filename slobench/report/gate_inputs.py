"""What `gate` compares: runs made alike, and whether each one finished.

Refused (exit 2, saying why), because no check could mean anything: a capacity search
against fixed rates (every limit would be against nothing), and runs whose settings
differ (200 vs 300 sessions per probe measure different things). Settings that choose
the scheduler's behaviour (routing, best-effort, speculation) may differ: measuring
their effect is what a gate is for.
"""

from __future__ import annotations

from typing import Any

from slobench.core.errors import input_error
from slobench.report.gains import capacity_rows
from slobench.report.run_dir import RunData

# run.json `config` keys that define the measurement, with the option that sets each.
MATCHED_SETTINGS = {
    "engine": "--engine", "model": "--model", "hardware": "--hardware", "gpus": "--gpus",
    "tp": "--tp", "profile": "--profile", "requests": "--requests", "seed": "--seed",
    "threshold": "--threshold", "rel_tol": "--tolerance", "min_rate": "--min-rate",
    "max_context": "--max-context", "trace": "--trace", "output_lengths": "--output-lengths",
    "slo_scale": "--slo-scale", "min_probe_s": "--min-probe-s",
}


def run_kind(run: RunData) -> str:
    return "a capacity search" if not capacity_rows(run.summary).empty else "fixed rates"


def check_comparable(new: RunData, base: RunData) -> None:
    """Raise UserInputError when the two runs cannot be compared like with like."""
    kind, base_kind = run_kind(new), run_kind(base)
    if kind != base_kind:
        raise input_error(str(new.path), None, f"ran {kind} but the baseline {base.path} ran "
                          f"{base_kind}: nothing to compare; run both the same way (both "
                          "with --rates, or both without)")
    mine, theirs = new.meta.get("config"), base.meta.get("config")
    if not (isinstance(mine, dict) and isinstance(theirs, dict)):
        return                      # older or hand-made folders: nothing recorded to compare
    differ = [k for k in MATCHED_SETTINGS if mine.get(k) != theirs.get(k)]
    if differ:
        k = differ[0]
        more = f" (also: {', '.join(MATCHED_SETTINGS[d] for d in differ[1:])})" if differ[1:] \
            else ""
        raise input_error(str(new.path / "run.json"), f"config.{k}",
                          f"{mine.get(k)!r} here, {theirs.get(k)!r} in the baseline "
                          f"{base.path}{more}; gate compares runs made with the same "
                          f"{MATCHED_SETTINGS[k]}")


def incomplete(meta: dict[str, Any]) -> str | None:
    """Why a run did not finish (aborted, failure budget spent, killed), or None."""
    if meta.get("aborted"):
        return f"aborted: {meta['aborted']}"
    if meta.get("failure_budget_spent"):
        return f"failure budget spent: {meta['failure_budget_spent'][0]}"
    if meta.get("started") and not meta.get("finished"):
        return "never finished (killed, or still running)"
    return None
