"""Roofline performance model: each layer is bound by compute or by memory traffic.

Per decoder layer the step takes max(compute time, memory time):

- compute: 2 x layer params FLOPs per batch token (the linear layers) plus 4 x hidden
  FLOPs per attended (query, key) pair (QK^T and AV), at peak x compute_eff x tp;
- memory: the layer's weights (each GPU reads its 1/tp shard) plus the KV cache the
  batch reads, at peak bandwidth x mem_eff.

All layers are alike, so the per-layer max times `layers` is the max of the scaled
terms. On top come the LM head (its own max of logits FLOPs vs reading its weights),
two ring all-reduces per layer when tp > 1, and a fixed per-step overhead.

Approximations, deliberately simple because this runs once per simulated step:

- Attended pairs are estimated from the aggregate counts as
  context_tokens + P(P-1)/2, P = prefill tokens: exact for decodes (one query per
  sequence) and for one fresh prompt prefilled whole; a chunk with p earlier tokens
  is undercounted by about (chunk - 1) x p pairs, and several chunks in one step are
  treated as one. Attention is a minor share of prefill FLOPs below ~8k tokens.
- Logits are computed for every decode token and, when there is prefill, for one
  prefill position (per-chunk counts are not known here).
- Activations and KV writes are not counted as memory traffic.
- Speculative decoding: each draft step is a decode-like pass of a draft model
  `draft_ratio` the size of the target (its compute and memory terms scale by that
  ratio) plus one step overhead; the verification tokens are part of decode_tokens.
- An empty step (no tokens) costs only the overhead.
"""

from __future__ import annotations

from typing import Any, Literal

from slobench.perf.hardware import HardwareSpec
from slobench.perf.model import PerfModel
from slobench.perf.models import ModelSpec

Bound = Literal["compute", "memory"]


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

        # Everything below is "seconds per unit" so step_time is a few multiply-adds.
        layers = model.layers
        bpp = model.bytes_per_param
        inv_flops = 1.0 / (hardware.flops * tp)
        inv_bw = 1.0 / hardware.bandwidth
        self._c_token = layers * 2 * model.layer_params * inv_flops
        self._c_pair = layers * 4 * model.hidden * inv_flops
        self._m_fixed = layers * model.layer_params * bpp / tp * inv_bw
        self._m_context = model.kv_bytes_per_token / tp * inv_bw   # already all layers
        lm_head_params = model.vocab * model.hidden
        self._head_token = 2 * lm_head_params * inv_flops
        self._head_fixed = lm_head_params * bpp / tp * inv_bw
        if tp > 1:
            # Two all-reduces per layer (after attention and after the FFN) of the
            # batch's activations; a ring moves 2(tp-1)/tp of the bytes per GPU.
            ring = 2 * (tp - 1) / tp
            self._ar_token = layers * 2 * ring * model.hidden * bpp / hardware.allreduce_bw
            self._ar_fixed = layers * 2 * hardware.allreduce_latency_s
        else:
            self._ar_token = 0.0
            self._ar_fixed = 0.0
        self._overhead = hardware.step_overhead_s

    def step_time(self, prefill_tokens: int, decode_tokens: int, context_tokens: int,
                  draft_steps: int = 0) -> float:
        tokens = prefill_tokens + decode_tokens
        overhead = self._overhead
        if draft_steps:
            draft_layers = max(self._c_token * decode_tokens + self._c_pair * context_tokens,
                               self._m_fixed + self._m_context * context_tokens)
            overhead += draft_steps * (overhead + self.draft_ratio * draft_layers)
        if tokens <= 0:
            return overhead
        pairs = context_tokens + prefill_tokens * (prefill_tokens - 1) * 0.5
        compute = self._c_token * tokens + self._c_pair * pairs
        memory = self._m_fixed + self._m_context * context_tokens
        logits = decode_tokens + (1 if prefill_tokens > 0 else 0)
        head = max(self._head_token * logits, self._head_fixed)
        allreduce = self._ar_token * tokens + self._ar_fixed
        return (compute if compute > memory else memory) + head + allreduce + overhead

    def bound(self, prefill_tokens: int, decode_tokens: int, context_tokens: int) -> Bound:
        """Which roof the decoder layers hit for this batch."""
        tokens = prefill_tokens + decode_tokens
        pairs = context_tokens + prefill_tokens * (prefill_tokens - 1) * 0.5
        compute = self._c_token * tokens + self._c_pair * pairs
        memory = self._m_fixed + self._m_context * context_tokens
        return "compute" if compute > memory else "memory"

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "roofline",
            "name": self.name,
            "model": self.model.name,
            "hardware": self.hardware.name,
            "tp": self.tp,
            "draft_ratio": self.draft_ratio,
            "achievable_flops_per_gpu": self.hardware.flops,
            "achievable_mem_bw_per_gpu": self.hardware.bandwidth,
            "step_overhead_s": self._overhead,
            "weight_bytes": self.model.weight_bytes,
            "kv_bytes_per_token": self.model.kv_bytes_per_token,
        }
