"""A simulated call's outcome, as the client would record it (SPEC §4)."""

from __future__ import annotations

from slobench.core.outcome import CallOutcome, Status
from slobench.core.request import SchedRequest
from slobench.workloads.entities import SessionSpec


def call_outcome(session: SessionSpec, index: int, req: SchedRequest, status: str,
                 true_slo: tuple[float, tuple[tuple[int, float], ...]] | None,
                 delivery_s: float = 0.0) -> CallOutcome:
    """The call's outcome, judged on its true SLOs (`true_slo` when the policy planned on
    guarded ones), its tokens seen `delivery_s` after their steps ended."""
    spec = session.calls[index]
    error = ""
    if status == Status.OK:
        if req.best_effort:
            status = Status.BEST_EFFORT
        if not req.finished:
            status = Status.TIMEOUT
            error = "unfinished when the simulation's drain limit ran out"
    elif status == Status.REJECTED:
        error = "rejected by admission control on every replica offered"
    ttft_slo, phases = true_slo or (req.ttft_slo_s, req.phase_tpots)
    tokens, finish = req.token_times, req.finish_s
    if delivery_s:
        tokens, finish = [t + delivery_s for t in tokens], finish + delivery_s
    return CallOutcome(
        session_id=session.session_id,
        call_index=index,
        stage=spec.stage,
        request_class=session.request_class,
        scheduled_s=req.arrival_s,
        actual_send_s=req.arrival_s,
        prompt_tokens=req.prompt_tokens,
        expected_tokens=req.output_tokens,
        phase_tpots=phases,
        ttft_slo_s=ttft_slo,
        status=str(status),
        replica=req.replica,
        token_times=tokens,
        finish_s=finish,
        error=error,
        reason=(str(req.sched_state.get("why", "")) if status in
                (Status.REJECTED, Status.BEST_EFFORT) else ""),
    )
