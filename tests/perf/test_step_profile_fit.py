"""The step-time profile fitted from logged steps (SPEC §6): exact recovery, held-out
judgement, the versioned file, and the simulator running on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slobench.core.errors import UserInputError
from slobench.perf.factory import build_perf_model
from slobench.perf.step_profile import (
    FEATURES,
    StepProfile,
    fit_step_profile,
    load_profile,
    save_profile,
)

TRUE = {"const": 0.0065, "prefill_tokens": 2.3e-4, "decode_tokens": 1.1e-4,
        "context_tokens": 2e-7, "prefill_attention": 3e-8, "draft_steps": 0.0,
        "prefill_step": 0.012}


def _steps(n: int = 400, noise: float = 0.0, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    prefill = np.where(rng.random(n) < 0.5, rng.integers(1, 2048, n), 0)
    decode = rng.integers(0, 32, n)
    decode[(prefill == 0) & (decode == 0)] = 1
    context = prefill + decode * rng.integers(16, 1024, n)
    truth = StepProfile(TRUE)
    y = np.array([truth.step_time(int(p), int(d), int(c)) for p, d, c in
                  zip(prefill, decode, context, strict=True)])
    y = y * (1 + noise * rng.standard_normal(n))
    return pd.DataFrame({"prefill_tokens": prefill, "decode_tokens": decode,
                         "context_tokens": context, "draft_steps": 0, "step_s": y})


def test_fit_recovers_known_coefficients_from_exact_steps() -> None:
    profile, report = fit_step_profile(_steps())
    for k in FEATURES:
        assert profile.coef[k] == pytest.approx(TRUE[k], rel=1e-4, abs=1e-12), k
    assert report.r2_test > 0.999999 and report.p95_rel_err < 1e-6


def test_noisy_steps_are_judged_on_held_out_ones() -> None:
    profile, report = fit_step_profile(_steps(noise=0.05))
    assert report.n_test == 100 and report.n_train == 300
    assert 0.9 < report.r2_test < 1.0
    assert 0.01 < report.mean_rel_err < 0.1          # the noise shows, it is not hidden
    assert all(v >= 0 for v in profile.coef.values())


def test_steps_without_tokens_or_duration_are_left_out() -> None:
    steps = _steps(40)
    bad = pd.DataFrame({"prefill_tokens": [0, 10], "decode_tokens": [0, 1],
                        "context_tokens": [0, 11], "draft_steps": [0, 0],
                        "step_s": [0.5, float("nan")]})
    _, report = fit_step_profile(pd.concat([steps, bad], ignore_index=True))
    assert report.n_train + report.n_test == 40
    with pytest.raises(ValueError, match="too few"):
        fit_step_profile(bad)


def test_profile_file_round_trips_and_the_simulator_factory_loads_it(tmp_path: Path) -> None:
    profile, report = fit_step_profile(_steps(), {"model": "tiny", "hardware": "cpu",
                                                  "engine_info": {"kv_tokens": 4096}})
    path = tmp_path / "p.json"
    save_profile(profile, report, path)
    doc = json.loads(path.read_text())
    assert doc["format"] == "slobench-step-profile" and doc["version"] == 1
    again = load_profile(path)
    assert again.coef == profile.coef and again.kv_tokens == 4096
    built = build_perf_model("opt-13b", "a100", 2, str(path))
    assert built.step_time(100, 4, 900) == pytest.approx(profile.step_time(100, 4, 900))


def test_a_profile_written_before_the_prefill_step_term_reads_it_as_zero(
        tmp_path: Path) -> None:
    profile, report = fit_step_profile(_steps())
    path = tmp_path / "old.json"
    save_profile(profile, report, path)
    doc = json.loads(path.read_text())
    del doc["coef"]["prefill_step"]
    path.write_text(json.dumps(doc))
    old = load_profile(path)
    assert old.coef["prefill_step"] == 0.0
    assert old.step_time(100, 4, 900) == pytest.approx(
        profile.step_time(100, 4, 900) - TRUE["prefill_step"])


@pytest.mark.parametrize(("text", "field"), [
    ("not json", "not JSON"), ('{"format": "other"}', "format"),
    ('{"format": "slobench-step-profile", "version": 9}', "version"),
    ('{"format": "slobench-step-profile", "version": 1, "coef": {"const": -1}}', "coef"),
])
def test_a_bad_profile_file_is_one_input_error_naming_it(tmp_path: Path, text: str,
                                                         field: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(UserInputError, match=field) as err:
        load_profile(path)
    assert str(path) in str(err.value)


def test_a_step_of_known_chunks_is_timed_on_their_pairs_not_the_bound() -> None:
    profile = StepProfile(TRUE)
    # A 512-token chunk after 1,024 computed tokens beside 8 decodes of 2,000 tokens each.
    prefill, decode, context = 512, 8, 1024 + 512 + 8 * 2000
    pairs = 512 * (1024 + 512)
    exact = profile.step_time_of_chunks(prefill, decode, context, 0, pairs)
    bound = profile.step_time(prefill, decode, context)
    assert exact == pytest.approx(bound - TRUE["prefill_attention"] * (prefill * context - pairs))
    assert exact < bound
    # Models without a fitted pairs term keep their own estimate.
    roofline = build_perf_model("opt-13b", "a100", 2, "roofline")
    assert roofline.step_time_of_chunks(prefill, decode, context, 0, pairs) == \
        roofline.step_time(prefill, decode, context)


def test_a_planned_batch_with_its_chunk_context_counts_its_own_pairs_not_the_decodes() -> None:
    profile = StepProfile(TRUE)
    # 420 prefill tokens of a fresh prompt beside 2 decodes attending 2,000 tokens each.
    total, decode, decode_context = 422, 2, 4000
    fresh = profile.batch_time(total, decode, decode_context, 0, prefill_context=0)
    bound = profile.batch_time(total, decode, decode_context, 0)
    prefill = total - decode
    assert fresh == pytest.approx(bound - TRUE["prefill_attention"] * prefill * decode_context)
    # A later chunk of a long prompt attends its earlier tokens too.
    later = profile.batch_time(total, decode, decode_context, 0, prefill_context=3000)
    assert later == pytest.approx(fresh + TRUE["prefill_attention"] * prefill * 3000)
    # The inverse agrees: more tokens fit a step once decodes' contexts stop counting.
    budget = bound
    assert profile.max_batch_tokens(budget, decode, decode_context, 0, 0) > total
    assert profile.max_batch_tokens(budget, decode, decode_context, 0) == total
    # Models without a pairs term are unchanged by it.
    roofline = build_perf_model("opt-13b", "a100", 2, "roofline")
    assert roofline.batch_time(total, decode, decode_context, 0, 0) == \
        roofline.batch_time(total, decode, decode_context, 0)
