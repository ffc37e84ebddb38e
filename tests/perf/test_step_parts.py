"""The roofline's step is the sum of its parts, and each part names the limit it hits."""

from __future__ import annotations

import itertools
import pickle

import pytest

from slobench.perf import HardwareSpec, PerfModel, RooflineModel, build_perf_model
from slobench.perf.breakdown import PART_NAMES, step_breakdown

GRID = list(itertools.product((0, 1, 7, 128, 129, 2048), (0, 1, 64, 300), (0, 100, 90_000),
                              (0, 3)))


def _rooflines() -> list[RooflineModel]:
    models = [build_perf_model(m, h, tp, "roofline") for m, h, tp in
              (("llama-3-8b", "h100", 1), ("opt-13b", "a100", 2), ("opt-30b", "h200", 4))]
    assert all(isinstance(m, RooflineModel) for m in models)
    return models  # type: ignore[return-value]


@pytest.mark.parametrize("model", _rooflines(), ids=lambda m: m.name)
def test_parts_sum_exactly_to_step_time(model: RooflineModel) -> None:
    for args in GRID:
        parts = model.step_parts(*args)
        assert [p.name for p in parts.parts] == list(PART_NAMES)
        assert parts.total == model.step_time(*args)
        assert type(model).step_time(model, *args) == model.step_time(*args)


def test_small_decode_hits_memory_and_big_prefill_compute() -> None:
    model = _rooflines()[0]
    decode = model.step_parts(0, 16, 16 * 2048)
    assert decode.part("linear").bound == "memory"
    assert decode.part("attention").bound == "memory"
    assert decode.part("elementwise").bound == "latency"
    prefill = model.step_parts(4096, 0, 4096)
    assert prefill.part("linear").bound == "compute"
    assert prefill.part("attention").bound == "compute"
    assert prefill.part("elementwise").bound == "memory"


def test_allreduce_costs_only_with_tensor_parallelism() -> None:
    single, split = _rooflines()[0], _rooflines()[1]
    assert single.step_parts(512, 0, 512).part("allreduce").seconds == 0.0
    assert split.step_parts(512, 0, 512).part("allreduce").seconds > 0.0


def test_empty_step_costs_only_its_overhead() -> None:
    model = _rooflines()[0]
    parts = model.step_parts(0, 0, 0)
    assert parts.total == parts.part("overhead").seconds == model.hardware.step_overhead_s


def test_draft_steps_are_their_own_part() -> None:
    model = _rooflines()[0]
    plain, drafted = model.step_parts(0, 64, 64 * 900), model.step_parts(0, 64, 64 * 900, 2)
    assert plain.part("draft").seconds == 0.0 < drafted.part("draft").seconds
    assert drafted.total - drafted.part("draft").seconds == pytest.approx(plain.total)


def test_pickled_roofline_gives_the_same_step_times() -> None:
    model = _rooflines()[1]
    copy = pickle.loads(pickle.dumps(model))
    assert [copy.step_time(*a) for a in GRID] == [model.step_time(*a) for a in GRID]


def test_fitted_profile_is_one_part_holding_its_step_time() -> None:
    profile = build_perf_model("opt-13b", "a100", 2)
    parts = step_breakdown(profile, 100, 20, 5000)
    assert [(p.name, p.bound) for p in parts.parts] == [("profile", "fitted")]
    assert parts.total == profile.step_time(100, 20, 5000)


@pytest.mark.parametrize("model", _rooflines(), ids=lambda m: m.name)
def test_roofline_inverse_agrees_with_the_interfaces_search(model: RooflineModel) -> None:
    for budget, decodes, per_seq, drafts in itertools.product(
            (0.004, 0.02, 0.05, 0.3, 2.0), (0, 1, 40, 500), (0, 300, 4000), (0, 2)):
        args = (budget, decodes, decodes * per_seq, drafts)
        assert model.max_batch_tokens(*args) == PerfModel.max_batch_tokens(model, *args)


def test_infinite_budget_bounds_no_batch() -> None:
    with pytest.raises(ValueError):
        _rooflines()[0].max_batch_tokens(float("inf"))


@pytest.mark.parametrize(("field", "value"), [
    ("gemm_tile", 0), ("gemm_tile", 100), ("gemm_tile_small", True), ("elementwise_eff", 1.5),
    ("kernel_floor_s", -1e-6)])
def test_hardware_rejects_bad_calibration_fields(field: str, value: object) -> None:
    base = {"name": "x", "peak_flops": 1e12, "mem_bw": 1e12, "mem_bytes": 1e9}
    with pytest.raises(ValueError, match=field):
        HardwareSpec(**base, **{field: value})  # type: ignore[arg-type]
