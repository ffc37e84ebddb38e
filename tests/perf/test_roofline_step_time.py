"""The roofline's step time follows the batch the way a GPU does."""

import pytest

from slobench.perf import RooflineModel, get_hardware, get_model


@pytest.fixture(params=[("opt-13b", "a100"), ("llama-3-8b", "h100"), ("opt-6.7b", "h200")])
def roofline(request: pytest.FixtureRequest) -> RooflineModel:
    model, hw = request.param
    return RooflineModel(get_hardware(hw), get_model(model))


def test_step_time_grows_with_batch_tokens(roofline: RooflineModel) -> None:
    prefill = [roofline.step_time(n, 0, n) for n in (1, 64, 512, 2048, 8192)]
    decode = [roofline.step_time(0, b, b * 1024) for b in (1, 16, 64, 256)]
    assert prefill == sorted(prefill) and prefill[0] < prefill[-1]
    assert decode == sorted(decode) and decode[0] < decode[-1]


def test_step_time_grows_with_context(roofline: RooflineModel) -> None:
    assert roofline.step_time(0, 32, 32 * 4096) > roofline.step_time(0, 32, 32 * 128)


def test_small_decode_batches_are_memory_bound(roofline: RooflineModel) -> None:
    assert roofline.bound(0, 1, 512) == "memory"
    assert roofline.bound(0, 16, 16 * 2048) == "memory"


def test_large_prefill_batches_are_compute_bound(roofline: RooflineModel) -> None:
    assert roofline.bound(2048, 0, 2048) == "compute"
    assert roofline.bound(8192, 0, 8192) == "compute"


def test_compute_bound_prefill_scales_with_tokens(roofline: RooflineModel) -> None:
    # Far past the ridge point doubling the tokens should roughly double the time.
    t4k = roofline.prefill_time(4096) - roofline.prefill_time(0)
    t8k = roofline.prefill_time(8192) - roofline.prefill_time(0)
    assert 1.8 < t8k / t4k < 2.6


def test_tensor_parallelism_cuts_big_batch_step_time() -> None:
    hw, model = get_hardware("a100"), get_model("opt-30b")
    times = [RooflineModel(hw, model, tp).step_time(4096, 64, 64 * 1024 + 4096)
             for tp in (1, 2, 4, 8)]
    assert times[0] > times[1] > times[2] > times[3]


def test_draft_steps_add_time() -> None:
    model = RooflineModel(get_hardware("a100"), get_model("llama-2-7b"))
    base = model.step_time(0, 64, 64 * 1024)
    assert model.step_time(0, 64, 64 * 1024, draft_steps=1) > base
    assert model.step_time(0, 64, 64 * 1024, 4) > model.step_time(0, 64, 64 * 1024, 2)


def test_zero_load_helpers_match_step_time() -> None:
    model = RooflineModel(get_hardware("h100"), get_model("llama-3-8b"))
    assert model.prefill_time(1000) == model.step_time(1000, 0, 1000)
    assert model.decode_step_time(8, 256) == model.step_time(0, 8, 2048)


@pytest.mark.parametrize("tp", [0, 3, -1])
def test_rejects_tp_that_cannot_split_the_model(tp: int) -> None:
    with pytest.raises(ValueError):
        RooflineModel(get_hardware("a100"), get_model("opt-13b"), tp)
