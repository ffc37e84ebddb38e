"""A vLLM request's mirror in the SLOs-Serve core (pure: no vLLM import).

The SLO comes from the request's `vllm_xargs` (the load generator's `slo_xargs`): TTFT
SLO, TPOT per output phase, expected output length and the call's key; the core plans
against it tightened by the replica's guard (`SloGuard`) and keeps the client's own
deadline for the audit. A request without a complete SLO is served best-effort.
"""

from __future__ import annotations

from typing import Any

from slobench.core.request import SchedRequest
from slobench.sched.slos.guards import SloGuard

NO_SLO_TTFT_S = 1e9          # best-effort mirrors: deadlines that never bind
NO_SLO_TPOT_S = 1e9


def mirror_request(rid: int, xargs: dict[str, Any], arrival_s: float, prompt_tokens: int,
                   max_tokens: int, guard: SloGuard) -> SchedRequest:
    has_slo = isinstance(xargs.get("ttft_slo_s"), int | float)
    phases: tuple[tuple[int, float], ...] = ((1, NO_SLO_TPOT_S),)
    if has_slo:
        starts = list(xargs.get("tpot_phase_starts") or [1])
        tpots = list(xargs.get("tpot_slos_s") or [])
        if tpots and len(starts) == len(tpots):
            phases = guard.phase_tpots(tuple(
                (int(f), float(t)) for f, t in zip(starts, tpots, strict=True)))
        else:
            has_slo = False
    expected = int(xargs.get("expected_output_tokens") or max_tokens)
    ttft_slo = float(xargs["ttft_slo_s"]) if has_slo else NO_SLO_TTFT_S
    sr = SchedRequest(rid=rid, arrival_s=arrival_s, prompt_tokens=prompt_tokens,
                      output_tokens=max_tokens, expected_output=max(1, expected),
                      ttft_slo_s=guard.ttft_slo(ttft_slo) if has_slo else ttft_slo,
                      phase_tpots=phases, has_slo=has_slo)
    sr.sched_state["call"] = xargs.get("call")
    if has_slo and guard.active:
        sr.sched_state["unguarded_deadline_s"] = arrival_s + ttft_slo
    return sr
