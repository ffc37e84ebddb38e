"""How calls reach a server: headers, which endpoint, how many at once.

`completions` posts `/v1/completions` with the prompt as text or token ids; `chat`
posts `/v1/chat/completions` with the prompt as one user message (token-id prompts are
decoded to text by the caller first). Both stream with usage, so tokens are counted from
the server's usage (SPEC §4), never from chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENDPOINTS = ("completions", "chat")
PATHS = {"completions": "/v1/completions", "chat": "/v1/chat/completions"}


@dataclass(frozen=True)
class LoadOptions:
    headers: dict[str, str] = field(default_factory=dict, repr=False)   # may hold a key
    endpoint: str = "completions"
    max_concurrency: int | None = None      # calls in flight at most (None: open loop)
    dataset: str | None = None              # KIND:PATH of real prompts (workloads.datasets)
    tokenizer: str | None = None            # the model folder that counts their tokens

    @property
    def path(self) -> str:
        return PATHS[self.endpoint]


def request_body(endpoint: str, model: str, prompt: str | list[int],
                 max_tokens: int) -> dict[str, Any]:
    """A streamed call asking for exactly `max_tokens` tokens (`ignore_eos`,
    `min_tokens`: vLLM's extensions; other servers ignore what they do not know)."""
    body: dict[str, Any] = {
        "model": model, "max_tokens": max_tokens, "min_tokens": max_tokens,
        "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True},
        "temperature": 0.0,
    }
    if endpoint == "chat":
        text = prompt if isinstance(prompt, str) else " ".join(map(str, prompt))
        body["messages"] = [{"role": "user", "content": text}]
    else:
        body["prompt"] = prompt
        body["return_token_ids"] = True
    return body
