"""The one reading of an OpenAI-style SSE completion stream (load generator and router).

Only `data:` lines carry anything: a JSON event, or `[DONE]` at the end. A chunk's
tokens are counted by rule 1 of SPEC §4 (`token_ids`, else `logprobs.tokens`, else one
token per chunk with non-empty text), so the router's "a token came" is the client's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DONE = b"[DONE]"


@dataclass(frozen=True, slots=True)
class SseData:
    """One `data:` line: its payload (stripped) and, when that is a JSON object, the event."""

    payload: bytes
    event: dict[str, Any] | None

    @property
    def done(self) -> bool:
        return self.payload == DONE

    @property
    def bad(self) -> bool:
        """Neither `[DONE]` nor a JSON object."""
        return self.event is None and not self.done


def parse_line(raw: bytes) -> SseData | None:
    """The `data:` line `raw` (as read from the stream); None for any other line (blank
    separators, comments, `event:` fields)."""
    line = raw.strip()
    if not line.startswith(b"data:"):
        return None
    payload = line[5:].strip()
    if payload == DONE:
        return SseData(payload, None)
    try:
        event = json.loads(payload)
    except ValueError:
        event = None
    return SseData(payload, event if isinstance(event, dict) else None)


def chunk_tokens(choice: dict[str, Any]) -> int:
    """Tokens one streamed choice carries (SPEC §4 rule 1)."""
    ids = choice.get("token_ids")
    if isinstance(ids, list):
        return len(ids)
    logprobs = choice.get("logprobs")
    if isinstance(logprobs, dict) and isinstance(logprobs.get("tokens"), list):
        return len(logprobs["tokens"])
    delta = choice.get("delta")
    text = choice.get("text") if delta is None else (delta or {}).get("content")
    return 1 if text else 0


def event_tokens(event: dict[str, Any]) -> int:
    """Tokens all choices of one event carry."""
    return sum(chunk_tokens(c) for c in event.get("choices") or [])
