"""The paper's reference profiles reproduce SPEC §6's formulas."""

import pytest

from slobench.perf import REFERENCE_PROFILES, FittedProfile, build_perf_model


@pytest.mark.parametrize(("n", "s"), [(0, 0), (1, 0), (256, 0), (2048, 0), (512, 3), (0, 5)])
def test_opt_13b_a100_matches_spec_formula(n: int, s: int) -> None:
    profile = build_perf_model("opt-13b", "a100", 2)
    expected = max(7.213e-5 * n + 0.003341 * s + 0.03173, 0.003014 * s + 1.2e-5)
    assert profile.step_time(n, 0, 0, s) == pytest.approx(expected, rel=1e-12)
    # N counts prefill and decode tokens alike; context is ignored.
    assert profile.step_time(n // 2, n - n // 2, 99_999, s) == pytest.approx(expected)


def test_opt_6_7b_a100_second_term_wins_for_large_batches() -> None:
    profile = build_perf_model("opt-6.7b", "a100", 1)
    assert profile.step_time(10, 0, 0) == pytest.approx(6.878e-5 * 10 + 0.0248)
    assert profile.step_time(4000, 0, 0) == pytest.approx(7.523e-5 * 4000 + 0.00303)


def test_all_five_paper_profiles_ship() -> None:
    assert set(REFERENCE_PROFILES) == {
        ("opt-6.7b", "a100", 1), ("opt-13b", "a100", 2), ("opt-30b", "a100", 4),
        ("toolllama-2-7b", "a100", 1), ("opt-13b", "h100", 1),
    }
    for key in REFERENCE_PROFILES:
        assert isinstance(build_perf_model(*key), FittedProfile)


@pytest.mark.parametrize("terms", [(), ((1e-5, 0.0),), ((-1e-5, 0.0, 0.01),),
                                   ((0.0, 0.0, 0.01),)])
def test_profile_rejects_bad_terms(terms: tuple) -> None:
    with pytest.raises(ValueError):
        FittedProfile("bad", terms)
