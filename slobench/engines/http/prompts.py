"""Prompts of an exact length for servers slobench measures: token ids where the
completions endpoint takes them, else words of the tiny model's vocabulary (one token a
word for its tokenizer; any other tokenizer reads them as text, counted by usage)."""

from __future__ import annotations

import random

VOCAB_SIZE = 2048                          # the tiny model's vocabulary (tiny_model.py)
SPECIAL = ("<unk>", "<s>", "</s>")
NUM_WORDS = VOCAB_SIZE - len(SPECIAL)
ID_PROMPT_BASE = 1000          # token-id prompts use ids 1000..1999: valid in any real vocab


def id_prompt(n_tokens: int, seed: int) -> list[int]:
    """A prompt of exactly `n_tokens` token ids (for servers whose tokenizer is unknown)."""
    return [ID_PROMPT_BASE + (seed * 7919 + i * 104729) % 1000 for i in range(max(1, n_tokens))]


def make_prompt(n_tokens: int, seed: int = 0) -> str:
    """A prompt that the tiny model's tokenizer turns into exactly `n_tokens` tokens."""
    rng = random.Random(seed)
    return " ".join(f"w{rng.randrange(NUM_WORDS)}" for _ in range(max(1, n_tokens)))
