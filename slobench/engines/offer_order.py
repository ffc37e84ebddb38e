"""Which replica is offered a request first, and in what order after a rejection.

SPEC §7: the first replica is chosen round-robin (or least-loaded); a replica
whose admission rejects the request passes it to the next, each replica
being offered it at most once; only the last offer may keep it best-effort.
"""

from __future__ import annotations

from collections.abc import Callable

ROUTINGS = ("round_robin", "least_loaded")


class OfferOrder:
    """The order one call is offered to the replicas: the simulator's and the HTTP
    router's (engines/vllm/router), one rule."""

    def __init__(self, num_replicas: int, mode: str = "round_robin",
                 load_of: Callable[[int], int] | None = None) -> None:
        if mode not in ROUTINGS:
            raise ValueError(f"routing must be one of {ROUTINGS}, got {mode!r}")
        if mode == "least_loaded" and load_of is None:
            raise ValueError("least_loaded routing needs load_of")
        self.num_replicas = num_replicas
        self.mode = mode
        self._load_of = load_of
        self._next = 0

    def offer_order(self) -> list[int]:
        """Replica indices in the order this request will be offered to them."""
        n = self.num_replicas
        if self.mode == "least_loaded":
            assert self._load_of is not None
            first = min(range(n), key=self._load_of)
        else:
            first = self._next
            self._next = (self._next + 1) % n
        return [(first + k) % n for k in range(n)]
