"""Transformer architecture specs: the shape numbers the roofline model needs.

Only linear-layer weights and embeddings are counted; norms, biases and OPT's learned
position table are < 0.5% of the parameters and are left out on purpose (their
element-wise *work* is counted by the roofline, `roofline.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from slobench.perf.spec_fields import check_fields, positive_int


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer."""

    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int                   # < heads for grouped-query attention (Llama-3)
    intermediate: int               # FFN inner width
    vocab: int
    max_context: int
    bytes_per_param: int = 2        # bf16/fp16 weights and KV cache
    gated_mlp: bool = True          # SwiGLU (3 FFN matrices) vs plain 2-matrix FFN (OPT)
    tied_embeddings: bool = False   # OPT reuses the input embedding as the LM head
    rotary: bool = True             # rotary position embedding (Llama) vs learned (OPT)

    def __post_init__(self) -> None:
        check_fields(self, "model", ("layers", "hidden", "heads", "kv_heads", "intermediate",
                                     "vocab", "max_context", "bytes_per_param"),
                     positive_int, "must be an integer > 0")
        if self.hidden % self.heads:
            raise ValueError(f"model {self.name}: hidden {self.hidden} is not a multiple of "
                             f"heads {self.heads}")
        if self.heads % self.kv_heads:
            raise ValueError(f"model {self.name}: heads {self.heads} is not a multiple of "
                             f"kv_heads {self.kv_heads}")

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def layer_params(self) -> int:
        """Linear-layer parameters of one decoder layer (attention projections + FFN)."""
        kv_dim = self.kv_heads * self.head_dim
        attention = 2 * self.hidden * self.hidden + 2 * self.hidden * kv_dim   # q, o + k, v
        ffn = (3 if self.gated_mlp else 2) * self.hidden * self.intermediate
        return attention + ffn

    @property
    def embedding_params(self) -> int:
        """Input embedding plus LM head (one matrix when tied)."""
        return (1 if self.tied_embeddings else 2) * self.vocab * self.hidden

    @property
    def params(self) -> int:
        return self.layers * self.layer_params + self.embedding_params

    @property
    def weight_bytes(self) -> int:
        return self.params * self.bytes_per_param

    @property
    def kv_bytes_per_token(self) -> int:
        """KV-cache bytes one token occupies across all layers (K and V)."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.bytes_per_param


def _opt(name: str, layers: int, hidden: int, heads: int) -> ModelSpec:
    # OPT: 4x FFN with ReLU (two matrices), tied embeddings, 50272 vocab, 2048 context.
    return ModelSpec(name=name, layers=layers, hidden=hidden, heads=heads, kv_heads=heads,
                     intermediate=4 * hidden, vocab=50272, max_context=2048,
                     gated_mlp=False, tied_embeddings=True, rotary=False)


def _llama2_7b(name: str) -> ModelSpec:
    return ModelSpec(name=name, layers=32, hidden=4096, heads=32, kv_heads=32,
                     intermediate=11008, vocab=32000, max_context=4096)


OPT_6_7B = _opt("opt-6.7b", layers=32, hidden=4096, heads=32)
OPT_13B = _opt("opt-13b", layers=40, hidden=5120, heads=40)
OPT_30B = _opt("opt-30b", layers=48, hidden=7168, heads=56)
LLAMA_2_7B = _llama2_7b("llama-2-7b")
# ToolLLaMA-2-7B is a Llama-2-7B fine-tune (ToolBench): same shape.
TOOLLLAMA_2_7B = _llama2_7b("toolllama-2-7b")
LLAMA_3_8B = ModelSpec(name="llama-3-8b", layers=32, hidden=4096, heads=32, kv_heads=8,
                       intermediate=14336, vocab=128256, max_context=8192)
# The 1.5B distilled reasoning model (the paper's reasoning scenario runs "a 1.5B
# distilled reasoning model"; this one is assumed): a Qwen2.5-Math-1.5B shape, GQA with
# 2 KV heads, untied LM head. Qwen2's q/k/v biases are left out like OPT's.
R1_DISTILL_QWEN_1_5B = ModelSpec(name="deepseek-r1-distill-qwen-1.5b", layers=28, hidden=1536,
                                 heads=12, kv_heads=2, intermediate=8960, vocab=151936,
                                 max_context=131072)
# OPT-125M, the paper's draft model (a drafter's cost is in the fitted profiles' S term).
OPT_125M = _opt("opt-125m", layers=12, hidden=768, heads=12)

SHIPPED_MODELS: tuple[ModelSpec, ...] = (
    OPT_6_7B, OPT_13B, OPT_30B, LLAMA_2_7B, LLAMA_3_8B, TOOLLLAMA_2_7B, R1_DISTILL_QWEN_1_5B,
    OPT_125M,
)
