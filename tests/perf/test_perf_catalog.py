"""Name lookups and the model factory."""

import pytest

from slobench.core.errors import UserInputError
from slobench.perf import (
    FittedProfile,
    RooflineModel,
    build_perf_model,
    get_hardware,
    get_model,
)


def test_lookups_are_case_insensitive() -> None:
    assert get_hardware("H100").name == "h100"
    assert get_model(" OPT-13B ").name == "opt-13b"


def test_unknown_hardware_lists_known_names() -> None:
    with pytest.raises(UserInputError, match="a100, h100, h200"):
        get_hardware("tpu-v9")


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(UserInputError, match="llama-3-8b"):
        get_model("gpt-5")


def test_auto_prefers_the_paper_profile_then_roofline() -> None:
    assert isinstance(build_perf_model("opt-13b", "a100", 2), FittedProfile)
    assert isinstance(build_perf_model("opt-13b", "a100", 1), RooflineModel)
    assert isinstance(build_perf_model("opt-13b", "a100", 2, "roofline"), RooflineModel)


def test_fitted_without_a_profile_is_an_input_error() -> None:
    with pytest.raises(UserInputError, match="no fitted profile"):
        build_perf_model("llama-3-8b", "h100", 1, "fitted")


def test_unknown_profile_choice_is_an_input_error() -> None:
    with pytest.raises(UserInputError, match="auto, roofline, fitted"):
        build_perf_model("opt-13b", "a100", 1, "magic")


def test_describe_names_the_deployment() -> None:
    info = build_perf_model("llama-3-8b", "h100", 2).describe()
    assert info["kind"] == "roofline" and info["tp"] == 2 and info["hardware"] == "h100"


def test_shipped_models_have_their_real_sizes() -> None:
    sizes = {name: get_model(name).params / 1e9 for name in
             ("opt-6.7b", "opt-13b", "opt-30b", "llama-2-7b", "llama-3-8b")}
    assert sizes["opt-6.7b"] == pytest.approx(6.7, rel=0.03)
    assert sizes["opt-13b"] == pytest.approx(13.0, rel=0.03)
    assert sizes["opt-30b"] == pytest.approx(30.0, rel=0.03)
    assert sizes["llama-2-7b"] == pytest.approx(6.74, rel=0.02)
    assert sizes["llama-3-8b"] == pytest.approx(8.03, rel=0.02)
