"""max_batch_tokens is the exact inverse of step_time, for both model kinds."""

import pytest

from slobench.perf import PerfModel, build_perf_model


def _models() -> list[PerfModel]:
    return [
        build_perf_model("opt-13b", "a100", 2, "fitted"),
        build_perf_model("opt-6.7b", "a100", 1, "fitted"),
        build_perf_model("opt-13b", "a100", 2, "roofline"),
        build_perf_model("llama-3-8b", "h100", 1, "roofline"),
        build_perf_model("opt-30b", "h200", 4, "roofline"),
    ]


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.name)
@pytest.mark.parametrize("budget", [0.035, 0.05, 0.1, 0.25, 1.0])
@pytest.mark.parametrize(("decodes", "context", "drafts"),
                         [(0, 0, 0), (16, 16 * 700, 0), (64, 64 * 300, 2)])
def test_max_batch_tokens_is_largest_batch_that_fits(
        model: PerfModel, budget: float, decodes: int, context: int, drafts: int) -> None:
    n = model.max_batch_tokens(budget, decodes, context, drafts)
    if n == 0:
        # Nothing fits: not even the decodes alone.
        assert model.batch_time(decodes, decodes, context, drafts) > budget
        return
    assert n >= decodes
    assert model.batch_time(n, decodes, context, drafts) <= budget
    assert model.batch_time(n + 1, decodes, context, drafts) > budget
    # batch_time is step_time with the prefill tokens added to the context.
    prefill = n - decodes
    assert model.batch_time(n, decodes, context, drafts) == model.step_time(
        prefill, decodes, context + prefill, drafts)


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.name)
def test_bigger_budget_allows_bigger_batch(model: PerfModel) -> None:
    sizes = [model.max_batch_tokens(b, 8, 8 * 512) for b in (0.05, 0.1, 0.2, 0.4)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.name)
def test_budget_below_decode_time_fits_nothing(model: PerfModel) -> None:
    budget = model.step_time(0, 32, 32 * 512) * 0.99
    assert model.max_batch_tokens(budget, 32, 32 * 512) == 0


def test_fitted_inverse_is_closed_form_floor() -> None:
    profile = build_perf_model("opt-13b", "h100", 1)
    # T = 4.177e-5 N + 0.02743  ->  N = floor((0.1 - 0.02743) / 4.177e-5)
    assert profile.max_batch_tokens(0.1) == int((0.1 - 0.02743) / 4.177e-5)
