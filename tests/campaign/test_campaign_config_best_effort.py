"""`--best-effort/--no-best-effort`: unsaid, the simulator keeps what admission cannot fit
as best-effort (the paper's setting) and a real engine rejects it; said, both obey."""

from __future__ import annotations

import pytest

from slobench.campaign.config import RunConfig


def test_unsaid_the_simulator_keeps_best_effort_and_a_real_engine_rejects() -> None:
    cfg = RunConfig.build(scenarios=["chatbot"])
    assert cfg.slos_config(real_engine=False).best_effort is True
    assert cfg.slos_config(real_engine=True).best_effort is False


@pytest.mark.parametrize("said", [True, False])
def test_said_it_holds_on_both_engines(said: bool) -> None:
    cfg = RunConfig.build(scenarios=["chatbot"], best_effort=said)
    assert cfg.slos_config(real_engine=False).best_effort is said
    assert cfg.slos_config(real_engine=True).best_effort is said
