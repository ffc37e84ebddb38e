"""The roofline against published kernel timings (Vidur's profiling data, MIT licence;
extracts and their source in tests/perf/data/README.md)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from slobench.perf import HardwareSpec, ModelSpec, RooflineModel, get_hardware, get_model

DATA = Path(__file__).parent / "data"
LINEAR = ("qkv_proj_ms", "out_proj_ms", "gate_up_proj_ms", "down_proj_ms")
A100_OPS = DATA / "vidur_a100_llama2_7b_tp1_layer_ops.csv"
H100_LINEAR = DATA / "vidur_h100_llama2_7b_tp1_linear.csv"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _per_layer(model: RooflineModel, part: str, tokens: int) -> float:
    """One layer's share of a `part` for a fresh prompt of `tokens` (the measured case)."""
    return model.step_parts(tokens, 0, tokens).part(part).seconds / model.model.layers


def _errors(model: RooflineModel, part: str, rows: list[dict[str, str]],
            columns: dict[str, float]) -> list[float]:
    errors = []
    for row in rows:
        measured = sum(float(row[c]) * k for c, k in columns.items()) * 1e-3
        errors.append(_per_layer(model, part, int(row["num_tokens"])) / measured - 1)
    return errors


def _llama2(hw: str) -> RooflineModel:
    return RooflineModel(get_hardware(hw), get_model("llama-2-7b"))


def test_a100_linear_term_is_within_8_percent_of_measured_gemms() -> None:
    rows = _rows(A100_OPS)
    tokens = [int(r["num_tokens"]) for r in rows]
    assert min(tokens) == 1 and max(tokens) == 4096 and len(rows) >= 50
    errors = [abs(e) for e in _errors(_llama2("a100"), "linear", rows,
                                      dict.fromkeys(LINEAR, 1.0))]
    assert sum(errors) / len(errors) <= 0.08
    assert max(errors) <= 0.20


def test_h100_linear_term_is_within_8_percent_of_measured_gemms() -> None:
    # H100's GEMMs between 72 and 256 tokens are slower than either roof (up to 17%).
    errors = [abs(e) for e in _errors(_llama2("h100"), "linear", _rows(H100_LINEAR),
                                      dict.fromkeys(LINEAR, 1.0))]
    assert sum(errors) / len(errors) <= 0.08
    assert max(errors) <= 0.20


def test_a100_elementwise_term_is_within_8_percent_of_measured_kernels() -> None:
    # Two norms, rotary, the activation and two residual adds (the data times one add).
    ops = {"input_norm_ms": 1.0, "post_attn_norm_ms": 1.0, "rope_ms": 1.0, "act_ms": 1.0,
           "add_ms": 2.0}
    errors = [abs(e) for e in _errors(_llama2("a100"), "elementwise", _rows(A100_OPS), ops)]
    assert sum(errors) / len(errors) <= 0.08
    assert max(errors) <= 0.20


def test_elementwise_work_is_about_a_tenth_of_the_linear_time_at_4096_tokens() -> None:
    model = _llama2("a100")
    share = _per_layer(model, "elementwise", 4096) / _per_layer(model, "linear", 4096)
    assert 0.08 <= share <= 0.12


@pytest.mark.parametrize("tile", [64, 128, 1152])
def test_linear_term_steps_up_just_past_a_gemm_tile(tile: int) -> None:
    model = _llama2("a100")
    step = _per_layer(model, "linear", tile + 8) / _per_layer(model, "linear", tile)
    flat = _per_layer(model, "linear", tile) / _per_layer(model, "linear", tile - 8)
    assert step > 1.05 and flat < 1.03


def test_old_efficiencies_were_too_fast_where_the_new_ones_fit() -> None:
    # The pre-calibration A100 efficiencies (0.80 of peak FLOP/s, 0.85 of bandwidth) and
    # no tiles, in today's hypot form on the same points: 12% too fast on average.
    old = RooflineModel(HardwareSpec(
        name="a100-old", peak_flops=312e12, mem_bw=2.0e12, mem_bytes=80e9, compute_eff=0.80,
        mem_eff=0.85, gemm_tile=1, gemm_tile_small=1), get_model("llama-2-7b"))
    new = _llama2("a100")
    rows = _rows(A100_OPS)
    cols = dict.fromkeys(LINEAR, 1.0)
    old_mean = sum(_errors(old, "linear", rows, cols)) / len(rows)
    new_mean = sum(_errors(new, "linear", rows, cols)) / len(rows)
    assert old_mean < -0.05 and abs(new_mean) < 0.03


def test_roofline_attention_is_about_4x_faster_than_vidurs_prefill_kernel() -> None:
    # Checked, not calibrated: Vidur's A100 attention kernel reaches 0.16-0.19 of peak
    # FLOP/s on whole prompts (it is not FlashAttention-2-class), while the roofline
    # runs attention at the GEMM efficiency. The gap is pinned here so a change to the
    # attention term has to face these numbers (README: "roofline calibration").
    shape = ModelSpec("gqa-70b-shape", layers=80, hidden=8192, heads=64, kv_heads=8,
                      intermediate=28672, vocab=32000, max_context=4096)
    model = RooflineModel(get_hardware("a100"), shape, tp=2)
    ratios = []
    for row in _rows(DATA / "vidur_a100_attention_prefill.csv"):
        chunk, earlier = int(row["chunk_tokens"]), int(row["kv_cache_tokens"])
        if earlier:
            continue        # chunks after a prefix: the roofline's pair count is approximate
        predicted = model.step_parts(chunk, 0, chunk).part("attention").seconds / shape.layers
        ratios.append(float(row["attn_prefill_ms"]) * 1e-3 / predicted)
    assert len(ratios) >= 6
    assert min(ratios) >= 3.5 and max(ratios) <= 5.0
