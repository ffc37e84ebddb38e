"""Why admission turned a request away (the audit's reasons): each reason on an instance
built so that it, and only it, applies. Prefill rate 1,000 tokens/s whatever decodes."""

from __future__ import annotations

from slobench.sched.slos.admission import AdmissionItem
from slobench.sched.slos.why import rejection_reason


def rate(_counts: tuple[int, ...]) -> float:
    return 1000.0


class NoStepGrid:
    """The fluid timeline: no step grid."""

    def step_s(self, _counts: tuple[int, ...]) -> float:
        return 0.0

    def first_token_s(self, _item: AdmissionItem, _counts: tuple[int, ...],
                      t_fluid: float) -> float:
        return t_fluid


def item(key: int, deadline: float, tokens: int, kv: int = 100,
         forced: bool = False) -> AdmissionItem:
    return AdmissionItem(key, deadline, tokens, kv, 0, forced)


def why(it: AdmissionItem, forced: list[AdmissionItem] = (), kv_free: int = 10_000,
        unguarded: float | None = None, now: float = 0.0) -> str:
    return rejection_reason(it, list(forced), (0,), now, kv_free, rate, NoStepGrid(),
                            unguarded)


def test_a_deadline_already_past_is_expired() -> None:
    assert why(item(1, 0.5, 10), now=1.0) == "expired"


def test_kv_that_cannot_fit_is_kv() -> None:
    assert why(item(1, 5.0, 10, kv=500), kv_free=400) == "kv"


def test_a_prefill_slower_than_its_deadline_even_alone_is_ttft() -> None:
    assert why(item(1, 0.1, 500)) == "ttft"          # 0.5 s of prefill for 0.1 s


def test_feasible_alone_but_not_beside_admitted_work_is_busy() -> None:
    admitted = item(9, 0.45, 400, forced=True)        # 0.4 s, due first (EDF)
    assert why(item(1, 0.5, 200), [admitted]) == "busy"


def test_feasible_beside_the_admitted_work_but_not_chosen_is_contention() -> None:
    admitted = item(9, 5.0, 100, forced=True)
    assert why(item(1, 1.0, 100), [admitted]) == "contention"


def test_the_guard_is_blamed_only_when_the_clients_own_deadline_was_feasible() -> None:
    assert why(item(1, 0.15, 200), unguarded=0.25) == "guard"   # 0.2 s of prefill
    assert why(item(1, 0.15, 200), unguarded=0.18) == "ttft"
    assert why(item(1, 0.5, 10), now=0.6, unguarded=0.7) == "guard"
