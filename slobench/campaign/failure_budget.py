"""The failure budget (SPEC §11): a probe whose calls mostly failed ends its search.

A server that fails every request would otherwise make a capacity search halve its
rate down to --min-rate, one full probe per step, and report capacity < min-rate as if
it had measured something. The probe's rows are written before the check, so what it
measured stays on disk.
"""

from __future__ import annotations

from collections.abc import Callable

from slobench.core.outcome import Status
from slobench.metrics.records import RequestRecord


class FailureBudgetSpent(Exception):
    """A probe's error + timeout share passed --failure-budget: its search ends there."""


def check_failures(where: str, records: list[RequestRecord], budget: float,
                   note: Callable[[str], None]) -> None:
    """Say how many calls failed (errors, timeouts, the first error's text); raise
    FailureBudgetSpent when their share exceeds `budget`."""
    failed = [r for r in records if r.status in (Status.ERROR, Status.TIMEOUT)]
    if not failed:
        return
    timeouts = sum(r.status == Status.TIMEOUT for r in failed)
    note(f"{where}: {len(failed) - timeouts} error, {timeouts} timeout of {len(records)} "
         f"calls (first: {failed[0].error or 'no error text'})")
    if len(failed) > budget * len(records):
        raise FailureBudgetSpent(
            f"{where}: {len(failed) / len(records):.0%} of calls failed, over the failure "
            f"budget of {budget:.0%} (--failure-budget); this search ends here")
