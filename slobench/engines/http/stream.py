"""One streamed OpenAI-style request: per-token arrival times, counted as tokens.

Token counting rule (SPEC §4: tokens, never chunks):

1. A chunk whose choice carries `token_ids` (vLLM with `return_token_ids`) counts that
   many tokens; else `logprobs.tokens`; else one token per chunk with non-empty text.
   Every token of a chunk gets that chunk's arrival time.
2. When the server reports `usage.completion_tokens` at the end and it differs from the
   count, usage wins: missing tokens are added at the last token's arrival time (they
   came in a chunk we could not split); surplus ones are dropped from the middle, so the
   first and last arrival times stay.

Failures never raise: HTTP errors, error events in the stream, aborts, a stream that ends
before `[DONE]`, transport errors and timeouts come back as `status` error/timeout with
the error text.

SLO admission (SLOs-Serve, `slobench.engines.vllm.plugin`): a request the scheduler rejects comes
back as `status` rejected: either the router's explicit error event (type
`slo_rejected`), or, straight from a replica, a stream that completes (`[DONE]`) with no
token and zero completion tokens (vLLM drops the zero-token abort chunk itself). A
request served as best-effort carries `stop_reason` "slos_best_effort" on its chunks and
comes back as `status` best_effort.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from slobench.core.outcome import (
    REJECTED_TYPE,
    STOP_REASON_BEST_EFFORT,
    STOP_REASON_REJECTED,
    Status,
)
from slobench.engines.http.sse import chunk_tokens, parse_line

__all__ = ["REJECTED_TYPE", "STOP_REASON_BEST_EFFORT", "STOP_REASON_REJECTED", "StreamResult",
           "connector", "reconcile", "stream_call"]

_HEADERS = {"Content-Type": "application/json"}
# Idle keep-alive connections are dropped by the client before the server drops them
# (vLLM's uvicorn: 5 s, VLLM_HTTP_TIMEOUT_KEEP_ALIVE): with aiohttp's 15 s a request
# could go out on a connection the server had just closed ("Can not write request body").
KEEPALIVE_S = 4.0


def connector() -> aiohttp.TCPConnector:
    """The load generator's HTTP connection pool."""
    return aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_S)


@dataclass
class StreamResult:
    status: str = Status.OK
    error: str = ""
    token_times: list[float] = field(default_factory=list)
    finish_s: float = math.nan
    prompt_tokens: int | None = None
    usage_tokens: int | None = None
    best_effort: bool = False
    rejected: bool = False
    replica: int | None = None          # the router's x-slobench-replica header, if any


def reconcile(times: list[float], usage: int | None) -> list[float]:
    """Apply rule 2 of the module docstring."""
    if usage is None or usage == len(times) or not times:
        return times
    if usage > len(times):
        return times + [times[-1]] * (usage - len(times))
    if usage <= 1:
        return times[:usage]
    return [*times[:usage - 1], times[-1]]


def _handle_event(data: dict[str, Any], res: StreamResult, now: float) -> str | None:
    """Fold one SSE event into `res`; returns an error text when the event is one."""
    if "error" in data:
        err = data["error"]
        if isinstance(err, dict) and err.get("type") == REJECTED_TYPE:
            res.rejected = True
        return str(err.get("message", err)) if isinstance(err, dict) else str(err)
    usage = data.get("usage")
    if isinstance(usage, dict):
        res.usage_tokens = usage.get("completion_tokens", res.usage_tokens)
        res.prompt_tokens = usage.get("prompt_tokens", res.prompt_tokens)
    for choice in data.get("choices") or []:
        n = chunk_tokens(choice)
        res.token_times.extend([now] * n)
        stop = choice.get("stop_reason")
        if stop == STOP_REASON_BEST_EFFORT:
            res.best_effort = True
        elif stop == STOP_REASON_REJECTED and not res.token_times:
            res.rejected = True
            return "rejected by SLO admission"
        if choice.get("finish_reason") == "abort":
            return "the server aborted the request (finish_reason abort)"
    return None


async def stream_call(http: aiohttp.ClientSession, url: str, body: dict[str, Any],
                      clock: Callable[[], float], timeout_s: float) -> StreamResult:
    """POST `body` to `url` with streaming on and time every token with `clock()`."""
    res = StreamResult()
    done = False
    data = json.dumps(body).encode()
    try:
        async with asyncio.timeout(timeout_s), http.post(url, data=data, headers=_HEADERS) as resp:
            with contextlib.suppress(TypeError, ValueError):
                res.replica = int(resp.headers.get("x-slobench-replica"))  # type: ignore[arg-type]
            if resp.status != 200:
                text = (await resp.text())[:500]
                res.status, res.error = Status.ERROR, f"HTTP {resp.status}: {text}"
                return res
            async for raw in resp.content:
                now = clock()
                line = parse_line(raw)
                if line is None:
                    continue
                if line.done:
                    done = True
                    break
                if line.event is None:
                    res.status = Status.ERROR
                    res.error = f"bad JSON in stream: {line.payload[:200]!r}"
                    break
                err = _handle_event(line.event, res, now)
                if err:
                    res.status, res.error = Status.ERROR, err
                    break
    except aiohttp.ClientPayloadError as exc:
        res.status, res.error = Status.ERROR, f"stream dropped by the server: {exc}"
    except TimeoutError:
        res.status, res.error = Status.TIMEOUT, f"no complete response within {timeout_s:g} s"
    except (aiohttp.ClientError, OSError) as exc:
        res.status, res.error = Status.ERROR, f"{type(exc).__name__}: {exc}"
    if res.status == Status.OK and not done:
        res.status = Status.ERROR
        res.error = (f"stream dropped by the server: it ended before [DONE] after "
                     f"{len(res.token_times)} tokens")
    if res.rejected:
        res.status = Status.REJECTED
    elif (res.status == Status.OK and done and not res.token_times
          and not res.usage_tokens and body.get("max_tokens", 1)):
        # Completed with nothing: the SLO scheduler's zero-token abort (see docstring).
        res.status, res.rejected = Status.REJECTED, True
        res.error = "rejected by SLO admission (stream ended with no token)"
    elif res.status == Status.OK and res.best_effort:
        res.status = Status.BEST_EFFORT
    res.token_times = reconcile(res.token_times, res.usage_tokens)
    if res.token_times and res.status in (Status.OK, Status.BEST_EFFORT):
        res.finish_s = res.token_times[-1]
    return res
