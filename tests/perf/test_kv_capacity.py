"""KV capacity per replica: memory left after the weights, in tokens."""

import pytest

from slobench.core.errors import UserInputError
from slobench.perf import get_model, kv_capacity_tokens


def test_capacity_is_positive_and_smaller_for_bigger_models() -> None:
    small = kv_capacity_tokens("opt-6.7b", "a100", 1)
    medium = kv_capacity_tokens("opt-13b", "a100", 1)
    assert small > medium > 0


def test_capacity_matches_memory_arithmetic() -> None:
    model = get_model("llama-2-7b")
    expected = (80 * 1024**3 * 0.9 - model.weight_bytes) // model.kv_bytes_per_token
    assert kv_capacity_tokens("llama-2-7b", "a100", 1) == expected


def test_more_gpus_and_memory_give_more_capacity() -> None:
    assert kv_capacity_tokens("opt-13b", "a100", 2) > kv_capacity_tokens("opt-13b", "a100", 1)
    assert kv_capacity_tokens("opt-13b", "h200", 1) > kv_capacity_tokens("opt-13b", "h100", 1)


def test_grouped_query_attention_stores_fewer_bytes_per_token() -> None:
    assert get_model("llama-3-8b").kv_bytes_per_token * 4 == get_model(
        "llama-2-7b").kv_bytes_per_token


def test_weights_that_do_not_fit_are_an_input_error() -> None:
    with pytest.raises(UserInputError, match="opt-30b"):
        kv_capacity_tokens("opt-30b", "a100", 1, mem_util=0.5)
