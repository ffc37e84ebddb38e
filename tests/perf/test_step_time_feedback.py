"""Online step-time correction (slobench.perf.feedback)."""

from __future__ import annotations

import pytest

from slobench.perf.feedback import ScaledPerfModel, StepTimeCorrector
from slobench.perf.fitted import REFERENCE_PROFILES
from slobench.perf.measured import MeasuredModel

LINE = MeasuredModel(base_s=0.002, per_token_s=7e-5, decode_step_s=0.004, points={})


def test_scaled_model_multiplies_step_time() -> None:
    scaled = ScaledPerfModel(LINE, 2.5)
    assert scaled.step_time(100, 3, 500) == pytest.approx(2.5 * LINE.step_time(100, 3, 500))
    assert scaled.decode_step_time(1) == pytest.approx(2.5 * LINE.decode_step_time(1))


@pytest.mark.parametrize("inner", [LINE, next(iter(REFERENCE_PROFILES.values()))])
@pytest.mark.parametrize("factor", [0.6, 1.0, 2.35])
def test_scaled_inverse_is_exact_for_the_scaled_times(inner, factor: float) -> None:
    scaled = ScaledPerfModel(inner, factor)
    for budget, decodes, context in [(0.025, 0, 0), (0.05, 4, 2000), (0.2, 16, 8000)]:
        n = scaled.max_batch_tokens(budget, decodes, context)
        if n == 0:
            assert scaled.batch_time(decodes, decodes, context, 0) > budget
            continue
        assert scaled.batch_time(n, decodes, context, 0) <= budget
        assert scaled.batch_time(n + 1, decodes, context, 0) > budget


def test_changing_the_factor_changes_the_budget() -> None:
    scaled = ScaledPerfModel(LINE)
    before = scaled.max_batch_tokens(0.05)
    scaled.factor = 2.0
    assert scaled.max_batch_tokens(0.05) < before


def test_corrector_keeps_factor_one_until_enough_samples() -> None:
    c = StepTimeCorrector(min_samples=20)
    for _ in range(19):
        c.observe(256, 0.02, 0.05)
    assert c.factor() == 1.0
    c.observe(256, 0.02, 0.05)
    assert c.factor() == pytest.approx(2.5)


def test_corrector_ignores_short_steps() -> None:
    c = StepTimeCorrector(min_samples=5, min_tokens=32)
    for _ in range(50):
        c.observe(1, 0.002, 0.006)       # decode-only: mostly fixed overhead
    assert c.samples == 0 and c.factor() == 1.0


def test_corrector_takes_an_upper_quantile_rounded_and_clamped() -> None:
    c = StepTimeCorrector(window=100, quantile=0.9, min_samples=10, granularity=0.05)
    for i in range(100):                  # ratios 1.00, 1.01, ..., 1.99
        c.observe(100, 1.0, 1.0 + i / 100)
    assert c.factor() == pytest.approx(1.9)
    for _ in range(100):
        c.observe(100, 1.0, 40.0)
    assert c.factor() == 4.0              # clamped at hi
    for _ in range(100):
        c.observe(100, 1.0, 0.01)
    assert c.factor() == 0.5              # clamped at lo


def test_corrector_window_forgets_old_steps() -> None:
    c = StepTimeCorrector(window=20, min_samples=10)
    for _ in range(20):
        c.observe(100, 0.01, 0.03)
    for _ in range(20):
        c.observe(100, 0.01, 0.012)
    assert c.factor() == pytest.approx(1.2)


@pytest.mark.parametrize("kwargs", [{"quantile": 0.0}, {"lo": 1.5}, {"hi": 0.9}])
def test_corrector_rejects_bad_settings(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        StepTimeCorrector(**kwargs)
