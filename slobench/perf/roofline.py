"""Roofline performance model: every kernel is bound by compute, memory traffic or latency.

A batch step is the sum of seven parts (`PART_NAMES`), each over all layers:

- linear: the decoder layers' GEMMs. Compute is 2 x layer params FLOPs per token, with
  the tokens rounded up to the GEMM tile (128, or 64 for batches up to 128; where
  measured GEMM times step); memory is the layer's weights (each GPU its 1/tp shard)
  plus the activations in and out. The part is hypot(compute, memory): measured GEMMs
  near the switch from memory- to compute-bound are slower than either roof alone.
- attention: 4 x hidden FLOPs per attended (query, key) pair against reading the KV
  cache the batch attends, combined the same way.
- elementwise: norms, rotary embedding, activation and the two residual adds, a
  memory-bound stream at `elementwise_eff` of peak bandwidth against a floor of
  `kernel_floor_s` per kernel.
- lm_head: the logits GEMM (its own tile-rounded compute against reading its weights).
- allreduce: two ring all-reduces per layer of the batch's activations when tp > 1.
- overhead: the fixed per-step cost (CPU side).
- draft: speculative draft steps, each a decode-like pass of a draft model
  `draft_ratio` the size of the target plus one step overhead; the verification tokens
  are part of decode_tokens.

The efficiencies, tiles and floors are per GPU, fitted to published kernel timings
(`hardware.py`). Approximations, deliberately simple because this runs once per
simulated step:

- Attended pairs are estimated from the aggregate counts as
  context_tokens + P(P-1)/2, P = prefill tokens: exact for decodes (one query per
  sequence) and for one fresh prompt prefilled whole; a chunk with p earlier tokens
  is undercounted by about (chunk - 1) x p pairs, and several chunks in one step are
  treated as one.
- Logits are computed for every decode token and, when there is prefill, for one
  prefill position (per-chunk counts are not known here).
- KV-cache writes are not counted as memory traffic.
- An empty step (no tokens) costs only the overhead (and its draft steps).

`step_time` and `step_parts` are built from one function (`_build_parts`): the step
time is the sum of exactly the parts that `slobench perf` prints, in the same order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from math import hypot
from typing import Any

from slobench.perf.breakdown import PART_NAMES, Bound, Part, StepParts
from slobench.perf.hardware import HardwareSpec
from slobench.perf.model import PerfModel
from slobench.perf.models import ModelSpec

Limits = list[tuple[float, float]]
PartsFn = Callable[..., tuple[float, ...]]


class RooflineModel(PerfModel):
    """Analytic step time of `model` on `tp` x `hardware` (one replica)."""

    def __init__(self, hardware: HardwareSpec, model: ModelSpec, tp: int = 1,
                 draft_ratio: float = 0.1) -> None:
        if isinstance(tp, bool) or not isinstance(tp, int) or tp < 1:
            raise ValueError(f"tp must be an integer >= 1, got {tp!r}")
        if model.heads % tp:
            raise ValueError(f"model {model.name}: {model.heads} heads cannot be split "
                             f"over tp={tp}")
        if not 0 < draft_ratio <= 1:
            raise ValueError(f"draft_ratio must be in (0, 1], got {draft_ratio!r}")
        self.hardware = hardware
        self.model = model
        self.tp = tp
        self.draft_ratio = draft_ratio
        self.name = f"roofline:{model.name}@{hardware.name}x{tp}"
        self._tile = hardware.gemm_tile
        self._tile_small = hardware.gemm_tile_small
        self._precompute(hardware, model, tp)
        # One implementation, two closures: the tuple of parts, and their sum as the
        # instance's step_time (it shadows the method below; same floats, same order).
        self._parts = self._build_parts(total=False)
        self.step_time = self._build_parts(total=True)  # type: ignore[method-assign]

    def __reduce__(self) -> tuple[Any, ...]:
        # The parts closure does not pickle; rebuilding from the specs is exact.
        return (RooflineModel, (self.hardware, self.model, self.tp, self.draft_ratio))

    def _precompute(self, hw: HardwareSpec, m: ModelSpec, tp: int) -> None:
        # Everything is "seconds per unit, all layers" so a step is a few multiply-adds.
        layers, bpp, h, inter = m.layers, m.bytes_per_param, m.hidden, m.intermediate
        kv_dim = m.kv_heads * m.head_dim
        up = 2 if m.gated_mlp else 1
        inv_flops = 1.0 / (hw.flops * tp)
        inv_bw = 1.0 / hw.bandwidth
        self._lin_c = layers * 2 * m.layer_params * inv_flops
        self._lin_w = layers * m.layer_params * bpp / tp * inv_bw
        # Each GEMM reads its input and writes its output; column-parallel layers (qkv,
        # gate/up) shard their outputs over tp, row-parallel ones (out, down) their inputs.
        act = (h + (h + 2 * kv_dim) / tp) + (h / tp + h) + (h + up * inter / tp) \
            + (inter / tp + h)
        self._lin_a = layers * act * bpp * inv_bw
        self._att_c = layers * 4 * h * inv_flops
        self._att_m = m.kv_bytes_per_token / tp * inv_bw      # already all layers
        # Norms read and write the hidden state, residual adds read two and write one
        # (both replicated over tp); rotary rewrites q and k, the activation reads its
        # input(s) and writes one output (both sharded).
        ew = 2 * 2 * h + 2 * 3 * h + (1 + up) * inter / tp
        kernels = 5
        if m.rotary:
            ew += 2 * (h + kv_dim) / tp
            kernels += 1
        self._ew_floor = layers * kernels * hw.kernel_floor_s
        self._ew_tok = layers * ew * bpp / (hw.mem_bw * hw.elementwise_eff)
        head_params = m.vocab * h
        self._head_c = 2 * head_params * inv_flops
        self._head_m = head_params * bpp / tp * inv_bw
        if tp > 1:
            # Two all-reduces per layer (after attention and after the FFN) of the
            # batch's activations; a ring moves 2(tp-1)/tp of the bytes per GPU.
            ring = 2 * (tp - 1) / tp
            self._ar_token = layers * 2 * ring * h * bpp / hw.allreduce_bw
            self._ar_fixed = layers * 2 * hw.allreduce_latency_s
        else:
            self._ar_token = 0.0
            self._ar_fixed = 0.0
        self._overhead = hw.step_overhead_s

    def _build_parts(self, total: bool) -> PartsFn:
        """The step's parts (or, `total`, their sum) as a closure over the constants:
        locals are read faster than attributes, and this is the simulator's hot path
        (the planner's batch-size search calls it several times a step)."""
        lin_k, lin_w, lin_a = self._lin_c, self._lin_w, self._lin_a
        att_k, att_m_k, ew_floor, ew_k = self._att_c, self._att_m, self._ew_floor, self._ew_tok
        head_k, head_m, ar_k, ar_fixed = self._head_c, self._head_m, self._ar_token, self._ar_fixed
        tile_big, tile_small, overhead, ratio = (self._tile, self._tile_small, self._overhead,
                                                 self.draft_ratio)

        def parts(prefill: int, decode: int, context: int, draft_steps: int = 0,
                  limits: Limits | None = None) -> Any:
            tokens = prefill + decode
            if tokens > 0:
                tile = tile_big if tokens > tile_big else tile_small   # whole GEMM tiles
                lin_c = lin_k * (-(-tokens // tile) * tile)
                lin_m = lin_w + lin_a * tokens
                att_c = att_k * (context + prefill * (prefill - 1) * 0.5)
                att_m = att_m_k * context
                ew_m = ew_k * tokens
                logits = decode + (1 if prefill else 0)
                tile = tile_big if logits > tile_big else tile_small
                head_c = head_k * (-(-logits // tile) * tile)
                linear, attention = hypot(lin_c, lin_m), hypot(att_c, att_m)
                elementwise, head = hypot(ew_floor, ew_m), hypot(head_c, head_m)
                allreduce = ar_k * tokens + ar_fixed
                if limits is not None:
                    limits += [(lin_c, lin_m), (att_c, att_m), (ew_m, ew_floor),
                               (head_c, head_m)]
            else:
                linear = attention = elementwise = head = allreduce = 0.0
                if limits is not None:
                    limits += [(0.0, 0.0)] * 4
            draft = 0.0
            if draft_steps:
                # Each draft step: the target's decode pass over these contexts scaled to
                # the draft model, plus its own step overhead.
                sub: Limits | None = [] if limits is not None else None
                d_lin, d_att, d_ew = self._parts(0, decode, context, 0, sub)[:3]
                if limits is not None and sub:
                    limits.append(sub[0])
                draft = draft_steps * (overhead + ratio * (d_lin + d_att + d_ew))
            if total:   # left to right from the first part: exactly sum() of the tuple
                return linear + attention + elementwise + head + allreduce + overhead + draft
            return linear, attention, elementwise, head, allreduce, overhead, draft

        return parts

    def step_time(self, prefill_tokens: int, decode_tokens: int, context_tokens: int,
                  draft_steps: int = 0) -> float:
        # Shadowed per instance by the summing closure; kept for the interface.
        return float(sum(self._parts(prefill_tokens, decode_tokens, context_tokens,
                                     draft_steps)))

    def max_batch_tokens(self, time_budget_s: float, decode_tokens: int = 0,
                         context_tokens: int = 0, draft_steps: int = 0,
                         prefill_context: int | None = None) -> int:
        # prefill_context: this model has no prefill-attention term to refine.
        """The interface's exact inverse (largest N with batch_time(N) <= budget), in
        ~2.4x fewer step evaluations than its bisection (the planner calls this every
        step). The GEMM term only changes at tile boundaries, so the search finds the
        tile first, then the token inside it, where the step time is smooth."""
        step, d, s, budget, tile = (self.step_time, decode_tokens, draft_steps, time_budget_s,
                                    self._tile)
        base = context_tokens - d           # a batch of n attends base + n tokens
        lo, t_lo = d, step(0, d, context_tokens, s)
        if not t_lo <= budget:
            return 0
        if not math.isfinite(budget):
            raise ValueError(f"time budget {budget!r} s bounds no batch size")
        hi = (d // tile + 1) * tile
        t_hi = step(hi - d, d, base + hi, s)
        while t_hi <= budget:               # grow by whole tiles: the secant, 2x to 32x
            span = hi - lo
            jump = max(span, int((budget - t_hi) * span / (t_hi - t_lo or 1e-300)))
            jump = min(jump, 32 * span)
            if jump > 1 << 40:
                raise ValueError(f"time budget {budget!r} s bounds no batch size")
            lo, t_lo, hi = hi, t_hi, hi + -(-jump // tile) * tile
            t_hi = step(hi - d, d, base + hi, s)

        def at(n: int) -> float:
            return step(n - d, d, base + n, s) - budget
        lo, _, hi, g_hi = _narrow(at, lo, t_lo - budget, hi, t_hi - budget, tile)
        if hi - lo > 1:                     # past lo the next tile starts: a step up
            g_next = at(lo + 1)
            if g_next > 0:
                return lo
            lo = _narrow(at, lo + 1, g_next, hi, g_hi, 1)[0]
        return lo

    def step_parts(self, prefill_tokens: int, decode_tokens: int, context_tokens: int,
                   draft_steps: int = 0) -> StepParts:
        """The step's parts, each with the limit it hits; they sum to `step_time`."""
        limits: Limits = []
        seconds = self._parts(prefill_tokens, decode_tokens, context_tokens, draft_steps,
                              limits)
        bounds: list[Bound] = [_roof(*limits[0]), _roof(*limits[1]),
                               _stream(*limits[2]), _roof(*limits[3]),
                               "network", "fixed",
                               _roof(*limits[4]) if draft_steps else "fixed"]
        parts = tuple(Part(name, s, b) for name, s, b in zip(PART_NAMES, seconds, bounds,
                                                             strict=True))
        return StepParts(prefill_tokens, decode_tokens, context_tokens, draft_steps, parts)

    def bound(self, prefill_tokens: int, decode_tokens: int, context_tokens: int) -> Bound:
        """Which roof the decoder layers' GEMMs hit for this batch."""
        return self.step_parts(prefill_tokens, decode_tokens, context_tokens).parts[0].bound

    def describe(self) -> dict[str, Any]:
        hw = self.hardware
        return {
            "kind": "roofline",
            "name": self.name,
            "model": self.model.name,
            "hardware": hw.name,
            "tp": self.tp,
            "draft_ratio": self.draft_ratio,
            "achievable_flops_per_gpu": hw.flops,
            "achievable_mem_bw_per_gpu": hw.bandwidth,
            "elementwise_eff": hw.elementwise_eff,
            "kernel_floor_s": hw.kernel_floor_s,
            "gemm_tiles": [hw.gemm_tile_small, hw.gemm_tile],
            "step_overhead_s": self._overhead,
            "weight_bytes": self.model.weight_bytes,
            "kv_bytes_per_token": self.model.kv_bytes_per_token,
        }


def _narrow(at: Callable[[int], float], lo: int, g_lo: float, hi: int, g_hi: float,
            unit: int) -> tuple[int, float, int, float]:
    """Shrink lo < hi (both multiples of `unit` apart, at(lo) <= 0 < at(hi)) until they
    are one unit apart, by the Illinois method: secant guesses on the unit grid, and the
    end that stays twice has its value halved, so convex curves do not make it crawl."""
    last = None
    while hi - lo > unit:
        k = (hi - lo) // unit
        mid = lo + min(max(int(-g_lo / (g_hi - g_lo) * k), 1), k - 1) * unit
        g = at(mid)
        fits = g <= 0
        if fits:
            lo, g_lo = mid, g
            if last is True:
                g_hi *= 0.5
        else:
            hi, g_hi = mid, g
            if last is False:
                g_lo *= 0.5
        last = fits
    return lo, g_lo, hi, g_hi


def _roof(compute: float, memory: float) -> Bound:
    if compute == memory == 0.0:
        return "fixed"
    return "compute" if compute > memory else "memory"


def _stream(memory: float, floor: float) -> Bound:
    if memory == floor == 0.0:
        return "fixed"
    return "memory" if memory > floor else "latency"
