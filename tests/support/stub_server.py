"""A stub OpenAI completions server with known timings, to test load generators.

`python -m tests.support.stub_server --port P --ttft 0.05 --gap 0.01` streams, for
each `POST /v1/completions`, the first token `ttft` seconds after the request arrived
and the others `gap` seconds apart (absolute deadlines, so no drift), then a usage
chunk and `[DONE]`. It is a minimal HTTP/1.1 server on asyncio streams (keep-alive,
chunked responses), so its own overhead stays small. With `--log FILE` it writes, per
served request, the `vllm_xargs.arrival_s` it was sent with, its arrival time and the
exact time each chunk was written (`time.perf_counter()`, the same clock as a client's
on the same machine): the stub's true TTFT and TPOT, to compare a client against.
Each chunk also carries the arrival (`stub_recv_s`) and write (`stub_sent_s`) times.

The request's `model` field picks a behaviour:

- anything else: normal, one token per chunk with `token_ids`;
- `multi`: two tokens per chunk and no `token_ids` (counted through `usage`);
- `http500`: answers HTTP 500;
- `drop`: closes the connection after 3 tokens;
- `abort`: sends an error event after 3 tokens;
- `badsse`: sends a malformed SSE event (not JSON) after 2 tokens.

`--fault MODE` gives each call that carries SLOs (`vllm_xargs`: every measured call of a
probe, while calibration and warm-up calls, which carry none, are served) the behaviour
MODE (one of the above, or `hang`: never answer) — a server that is up but fails all
real work; `--fail-slo-calls` is `--fault http500`. `--hang` never answers a completion
(a hung server). `--require-header 'NAME: VALUE'` answers HTTP 401 to any request
but `/health` without that header (an API key). `--models a,b` lists those models (default `stub`).
`POST /v1/chat/completions` streams `delta.content` chunks of two tokens each (counted
through `usage`); `POST /tokenize` counts whitespace-separated words.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


async def _until(t: float) -> None:
    """Sleep to `t` (asyncio's timer: up to ~1 ms late; the log has the exact times)."""
    delay = t - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


def _event(obj: dict) -> bytes:
    data = b"data: " + json.dumps(obj).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def _response(status: str, body: bytes, ctype: str = "application/json") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


STREAM_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")


class StubServer:
    def __init__(self, ttft_s: float, gap_s: float, log: TextIO | None = None,
                 fault: str = "", hang: bool = False, require: str = "",
                 models: str = "stub") -> None:
        self.ttft_s, self.gap_s, self.log = ttft_s, gap_s, log
        self.fault, self.hang = fault, hang
        name, _, value = require.partition(":")
        self.require = (name.strip().lower(), value.strip()) if require else None
        self.models = json.dumps({"object": "list", "data": [
            {"id": m, "max_model_len": 8192} for m in models.split(",")]}).encode()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = dict((k.strip().lower(), v.strip()) for k, _, v in
                               (line.partition(":") for line in lines[1:] if line))
                length = int(headers.get("content-length", 0))
                body = await reader.readexactly(length) if length else b""
                t_recv = time.perf_counter()
                if (self.require and path != "/health"      # health checks stay open
                        and headers.get(self.require[0]) != self.require[1]):
                    writer.write(_response("401 Unauthorized", b"stub: missing header"))
                elif method == "POST" and path in ("/v1/completions", "/v1/chat/completions"):
                    if not await self.complete(json.loads(body), t_recv, writer):
                        return
                elif method == "POST" and path == "/tokenize":
                    words = str(json.loads(body).get("prompt", "")).split()
                    writer.write(_response("200 OK", json.dumps({"count": len(words)}).encode()))
                elif path == "/health":
                    writer.write(_response("200 OK", b"ok", "text/plain"))
                elif path == "/v1/models":
                    writer.write(_response("200 OK", self.models))
                else:
                    writer.write(_response("404 Not Found", b"{}"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def complete(self, body: dict, t_recv: float, writer: asyncio.StreamWriter) -> bool:
        """Serve one completion; False when the connection is to be dropped."""
        mode = str(body.get("model", ""))
        if self.fault and "vllm_xargs" in body:
            mode = self.fault
        n = int(body.get("max_tokens", 16))
        chat = "messages" in body
        if self.hang or mode == "hang":
            await asyncio.sleep(3600)          # the client's timeout ends it first
        if mode == "http500":
            writer.write(_response("500 Internal Server Error", b"stub: internal error",
                                   "text/plain"))
            return True
        writer.write(STREAM_HEAD)
        per_chunk = 2 if mode == "multi" or chat else 1
        sent = k = 0
        sent_at: list[float] = []
        while sent < n:
            await _until(t_recv + self.ttft_s + k * self.gap_s)
            take = min(per_chunk, n - sent)
            choice: dict = {"index": 0, "text": " x" * take,
                            "finish_reason": "length" if sent + take >= n else None}
            if chat:
                choice["delta"] = {"content": choice.pop("text")}
            elif mode != "multi":
                choice["token_ids"] = list(range(take))
            sent_at.append(time.perf_counter())
            writer.write(_event({"choices": [choice], "stub_recv_s": t_recv,
                                 "stub_sent_s": sent_at[-1]}))
            await writer.drain()
            sent += take
            k += 1
            if mode == "drop" and sent >= 3:
                writer.transport.abort()
                return False
            if mode == "badsse" and sent >= 2:
                data = b"data: {not json\n\n"
                writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            if mode == "abort" and sent >= 3:
                writer.write(_event({"error": {"message": "stub: aborted", "code": 500}}))
                writer.write(b"0\r\n\r\n")
                return True
        if self.log is not None:
            xargs = body.get("vllm_xargs") or {}
            self.log.write(json.dumps({"arrival_s": xargs.get("arrival_s"), "recv_s": t_recv,
                                       "arrival_monotonic_s": xargs.get("arrival_monotonic_s"),
                                       "sent_s": sent_at, "tokens": n}) + "\n")
            self.log.flush()
        prompt = body.get("prompt") or " ".join(
            str(m.get("content", "")) for m in body.get("messages", []))
        p_tokens = len(prompt) if isinstance(prompt, list) else len(str(prompt).split())
        writer.write(_event({"choices": [], "usage": {
            "prompt_tokens": p_tokens, "completion_tokens": n, "total_tokens": p_tokens + n}}))
        data = b"data: [DONE]\n\n"
        writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
        return True


async def serve(port: int, ttft_s: float, gap_s: float, log: TextIO | None = None,
                **options: str | bool) -> None:
    stub = StubServer(ttft_s, gap_s, log, **options)  # type: ignore[arg-type]
    server = await asyncio.start_server(stub.handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def running_stub(ttft_s: float, gap_s: float, log: Path | None = None,
                 flags: tuple[str, ...] = ()) -> Iterator[str]:
    """Run this stub in its own process group on a free port; yield its base URL.
    `flags`: `--fault MODE`, `--hang`, ... (see the module docstring)."""
    from slobench.engines.process_group import ManagedProcess, free_port

    port = free_port()
    cmd = [sys.executable, "-m", "tests.support.stub_server", "--port", str(port),
           "--ttft", str(ttft_s), "--gap", str(gap_s)]
    if log is not None:
        cmd += ["--log", str(log)]
    cmd += list(flags)
    url = f"http://127.0.0.1:{port}"
    # The checkout on the path: tests.support is not installed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
    # Its own output (a crash's traceback) goes to a file the start-up error quotes.
    output = Path(tempfile.gettempdir()) / f"slobench-stub-{port}.out"
    stub = ManagedProcess("stub server", cmd, output, url, env=env)
    stub.start()
    try:
        stub.wait_ready(10.0, poll_s=0.1)
        yield url
    finally:
        stub.kill()
        output.unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(description="stub OpenAI server with known timings")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ttft", type=float, default=0.05)
    ap.add_argument("--gap", type=float, default=0.01)
    ap.add_argument("--log", default=None, help="write one JSON line per served request")
    ap.add_argument("--fail-slo-calls", action="store_true",
                    help="HTTP 500 to every call carrying SLOs (vllm_xargs)")
    ap.add_argument("--fault", default="", help="what calls carrying SLOs get: http500, "
                    "drop, abort, badsse, hang")
    ap.add_argument("--hang", action="store_true", help="never answer a completion")
    ap.add_argument("--require-header", default="", help="'NAME: VALUE' or HTTP 401")
    ap.add_argument("--models", default="stub", help="comma list of served model names")
    args = ap.parse_args()
    log = open(args.log, "a") if args.log else None  # noqa: SIM115
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.ttft, args.gap, log,
                          fault="http500" if args.fail_slo_calls else args.fault,
                          hang=args.hang, require=args.require_header, models=args.models))


if __name__ == "__main__":
    main()
