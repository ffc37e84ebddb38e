"""Judge engine outcomes into requests.parquet rows (SPEC §4, §8)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from slobench.core.outcome import CallOutcome, Status
from slobench.metrics.attainment import call_attains, tpot_of
from slobench.metrics.records import RequestRecord


@dataclass(frozen=True)
class RunLabels:
    run_id: str
    scenario: str
    backend: str
    engine: str
    rate: float


def build_records(outcomes: list[CallOutcome], labels: RunLabels) -> list[RequestRecord]:
    records: list[RequestRecord] = []
    for o in outcomes:
        n = len(o.token_times)
        first = o.first_token_s
        ok = o.status == Status.OK
        attained = ok and call_attains(
            o.scheduled_s, o.ttft_slo_s, o.token_times, o.phase_tpots, o.expected_tokens
        )
        records.append(RequestRecord(
            run_id=labels.run_id, scenario=labels.scenario, backend=labels.backend,
            engine=labels.engine, rate=labels.rate, replica=o.replica,
            session_id=o.session_id, call_index=o.call_index, stage=o.stage,
            request_class=o.request_class, scheduled_send_s=o.scheduled_s,
            actual_send_s=o.actual_send_s, first_token_s=first, finish_s=o.finish_s,
            prompt_tokens=o.prompt_tokens, output_tokens=n,
            expected_output_tokens=o.expected_tokens,
            ttft_s=first - o.scheduled_s if n else math.nan,
            tpot_s=tpot_of(first, o.finish_s, n),
            ttft_slo_s=o.ttft_slo_s,
            tpot_slo_s=min(t for _, t in o.phase_tpots),
            attained=attained, status=o.status, error=o.error, admission_reason=o.reason,
        ))
    _fill_session_attainment(records)
    return records


def _fill_session_attainment(records: list[RequestRecord]) -> None:
    by_session: dict[int, bool] = defaultdict(lambda: True)
    for r in records:
        by_session[r.session_id] &= r.attained
    for r in records:
        r.session_attained = by_session[r.session_id]
