"""A tiny Llama-architecture model folder for real-engine runs without weights (SPEC §2).

vLLM serves it with `--load-format dummy` (random weights), so only `config.json` and a
tokenizer are needed. The tokenizer is a word-level `tokenizers` tokenizer over the
generated words `w0 .. w{N-1}` split on whitespace, with no special tokens added on
encode: a prompt of `n` words is exactly `n` tokens, which lets the load generator send
prompts of the exact length a workload asks for (`make_prompt`).

The tokenizer JSON is written directly in the `tokenizers` file format, so building the
folder needs no extra package; `tokenizers` (in any vLLM install) loads it.
"""

from __future__ import annotations

import json
from pathlib import Path

from slobench.engines.http.prompts import NUM_WORDS, SPECIAL, VOCAB_SIZE, make_prompt

__all__ = ["NUM_WORDS", "SPECIAL", "VOCAB_SIZE", "make_prompt"]
MAX_POSITIONS = 16384
CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,          # head size 64: supported by vLLM's CPU attention
    "num_key_value_heads": 4,
    "head_dim": 64,
    "hidden_act": "silu",
    "max_position_embeddings": MAX_POSITIONS,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "vocab_size": VOCAB_SIZE,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "tie_word_embeddings": False,
    "torch_dtype": "float32",
}


def default_dir() -> Path:
    return Path.home() / ".cache" / "slobench" / "tiny-model"


def _vocab() -> dict[str, int]:
    vocab = {tok: i for i, tok in enumerate(SPECIAL)}
    for i in range(NUM_WORDS):
        vocab[f"w{i}"] = len(SPECIAL) + i
    return vocab


def _tokenizer_json() -> dict:
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": tok, "single_word": False, "lstrip": False,
             "rstrip": False, "normalized": False, "special": True}
            for i, tok in enumerate(SPECIAL)
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": _vocab(), "unk_token": "<unk>"},
    }


def write_tiny_model(folder: Path) -> Path:
    """Write (or overwrite) the model folder; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(CONFIG, indent=2))
    (folder / "tokenizer.json").write_text(json.dumps(_tokenizer_json()))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>",
        "add_bos_token": False, "add_eos_token": False,
        "model_max_length": MAX_POSITIONS, "clean_up_tokenization_spaces": False,
    }, indent=2))
    (folder / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": 1, "eos_token_id": 2}))
    return folder


def ensure_tiny_model(folder: Path | None = None) -> Path:
    """The tiny model folder, (re)written when missing or from another slobench version."""
    folder = folder or default_dir()
    try:
        current = json.loads((folder / "config.json").read_text()) == CONFIG
    except (OSError, ValueError):
        current = False
    if not current or not (folder / "tokenizer.json").exists():
        write_tiny_model(folder)
    return folder
