"""A vLLM request's mirror in the SLOs-Serve core (pure: no vLLM import).

The SLO comes from the request's SLO envelope (`core.request.SloEnvelope`, read from its
`vllm_xargs`): TTFT SLO, TPOT per output phase, expected output length and the call's
key; the core plans against it tightened by the replica's guard (`SloGuard`) and keeps
the client's own deadline for the audit. A request without a complete SLO is served
best-effort.
"""

from __future__ import annotations

from slobench.core.request import SchedRequest, SloEnvelope
from slobench.sched.slos.guards import SloGuard

NO_SLO_TTFT_S = 1e9          # best-effort mirrors: deadlines that never bind
NO_SLO_TPOT_S = 1e9


def mirror_request(rid: int, slo: SloEnvelope, arrival_s: float, prompt_tokens: int,
                   max_tokens: int, guard: SloGuard) -> SchedRequest:
    ttft_slo = slo.ttft_slo_s if slo.complete else None      # None: best-effort
    phases = (guard.phase_tpots(slo.phase_tpots) if ttft_slo is not None
              else ((1, NO_SLO_TPOT_S),))
    expected = slo.expected_output_tokens or max_tokens
    sr = SchedRequest(rid=rid, arrival_s=arrival_s, prompt_tokens=prompt_tokens,
                      output_tokens=max_tokens, expected_output=max(1, expected),
                      ttft_slo_s=NO_SLO_TTFT_S if ttft_slo is None else guard.ttft_slo(ttft_slo),
                      phase_tpots=phases, has_slo=ttft_slo is not None)
    sr.sched_state["call"] = slo.call
    if ttft_slo is not None and guard.active:
        guard.mark(sr.sched_state, arrival_s, ttft_slo)
    return sr
