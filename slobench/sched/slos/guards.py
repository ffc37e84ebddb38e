"""How much tighter than the client's SLOs SLOs-Serve plans on a real engine.

A real engine's steps overrun the model now and then and a token reaches the client
some milliseconds after the step that made it, so the plugin plans against SLOs x
`slo_factor` and TTFT deadlines `ttft_early_s` earlier still. The simulator twin of a
real run applies the same guard to what its policy sees (and judges on the true SLOs),
so this rule is written once, here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SloGuard:
    slo_factor: float = 1.0          # plan on SLO x this (<= 1)
    ttft_early_s: float = 0.0        # and TTFT deadlines this much earlier still
    # A token reaches the client this long after the step that made it: a call's own
    # deadline in the engine (`own_deadline`, its last chance's) is the client's less this.
    delivery_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.slo_factor <= 1:
            raise ValueError(f"slo_factor must be in (0, 1], got {self.slo_factor}")
        if self.ttft_early_s < 0:
            raise ValueError(f"ttft_early_s must be >= 0, got {self.ttft_early_s}")
        if self.delivery_s < 0:
            raise ValueError(f"delivery_s must be >= 0, got {self.delivery_s}")

    @property
    def active(self) -> bool:
        return self.slo_factor < 1 or self.ttft_early_s > 0 or self.delivery_s > 0

    def own_deadline(self, arrival_s: float, ttft_slo_s: float) -> float:
        """When the engine must give a call its first token for the client to have it
        within its SLO, without the planning margin."""
        return arrival_s + ttft_slo_s - self.delivery_s

    def mark(self, state: dict, arrival_s: float, ttft_slo_s: float) -> None:
        """Write a guarded call's own deadline (the audit's) and its last-chance deadline
        into its scheduler state: both adapters (plugin mirror, simulator) call this."""
        own = self.own_deadline(arrival_s, ttft_slo_s)
        state["unguarded_deadline_s"] = own
        state["last_chance_deadline_s"] = own + self.ttft_early_s

    def ttft_slo(self, ttft_slo_s: float) -> float:
        return max(0.0, ttft_slo_s * self.slo_factor - self.ttft_early_s)

    def tiers(self, tiers_s: tuple[float, ...]) -> tuple[float, ...]:
        """The TPOT tiers a guarded planner sees (the plugin learns them from its guarded
        mirrors): the twin of a chatbot run planned 80-ms steps where the plugin ran 72."""
        return tuple(sorted({t * self.slo_factor for t in tiers_s}))

    def phase_tpots(self, phases: tuple[tuple[int, float], ...]
                    ) -> tuple[tuple[int, float], ...]:
        return tuple((first, tpot * self.slo_factor) for first, tpot in phases)
