"""The SLOs-Serve router against tiny fake upstreams (pure Python, fast).

A fake replica either rejects (a stream that ends with no token, as vLLM sends a
zero-token abort) or streams tokens; each records the `vllm_xargs` it was offered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from slobench.core.outcome import Status
from slobench.engines.http.stream import stream_call
from slobench.engines.vllm.launcher import free_port
from slobench.engines.vllm.router.app import ReplicaRouter


def _fake(reject: bool, seen: list[dict], token_s: float = 0.0) -> web.Application:
    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen.append(body.get("vllm_xargs") or {})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        n = 0 if reject else int(body["max_tokens"])
        try:
            for i in range(n):
                chunk = {"choices": [{"index": 0, "text": "x", "token_ids": [100 + i],
                                      "finish_reason": "length" if i == n - 1 else None}]}
                await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
                if token_s:
                    await asyncio.sleep(token_s)
            usage = {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": n}}
            await resp.write(f"data: {json.dumps(usage)}\n\n".encode())
            await resp.write(b"data: [DONE]\n\n")
        except ConnectionResetError:
            pass                    # the router dropped the stream: vLLM aborts the call
        return resp

    async def health(_r: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/v1/completions", completions)
    app.router.add_get("/health", health)
    return app


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


def _run(rejects: list[bool],
         body: Callable[[ReplicaRouter, str, aiohttp.ClientSession, list[list[dict]]],
                        Awaitable[Any]], token_s: float = 0.0) -> Any:
    async def go() -> Any:
        seen: list[list[dict]] = [[] for _ in rejects]
        runners, urls = [], []
        for reject, s in zip(rejects, seen, strict=True):
            r, u = await _serve(_fake(reject, s, token_s))
            runners.append(r)
            urls.append(u)
        router = ReplicaRouter(urls)
        r, url = await _serve(router.app())
        runners.append(r)
        try:
            async with aiohttp.ClientSession() as http:
                return await body(router, url, http, seen)
        finally:
            for r in runners:
                await r.cleanup()

    return asyncio.run(go())


def _call(http: aiohttp.ClientSession, url: str, n: int = 5) -> Awaitable[Any]:
    t0 = time.perf_counter()
    body = {"model": "m", "prompt": "hi", "max_tokens": n, "stream": True,
            "vllm_xargs": {"ttft_slo_s": 1.0}}
    return stream_call(http, url + "/v1/completions", body,
                       lambda: time.perf_counter() - t0, 10)


def test_rejected_offer_goes_to_the_next_replica_and_only_the_last_is_last_try() -> None:
    async def body(router: ReplicaRouter, url: str, http: aiohttp.ClientSession,
                   seen: list[list[dict]]) -> None:
        res = await _call(http, url)
        assert res.status == Status.OK and len(res.token_times) == 5
        assert res.replica == 1
        assert seen[0] == [{"ttft_slo_s": 1.0, "last_try": False}]
        assert seen[1] == [{"ttft_slo_s": 1.0, "last_try": True}]
        snap = router.snapshot()
        assert snap["forwarded"] == [1, 1] and snap["rejected"] == [1, 0]
        assert snap["served"] == [0, 1] and snap["rejected_final"] == 0
        async with http.get(url + "/metrics") as m:
            text = await m.text()
        assert 'slobench_router_rejected_total{replica="0"' in text
        async with http.get(url + "/health") as h:
            assert h.status == 200

    _run([True, False], body)


def test_every_replica_rejecting_reaches_the_client_as_rejected() -> None:
    async def body(router: ReplicaRouter, url: str, http: aiohttp.ClientSession,
                   seen: list[list[dict]]) -> None:
        res = await _call(http, url)
        assert res.status == Status.REJECTED and res.token_times == []
        assert router.snapshot()["rejected_final"] == 1

    _run([True, True], body)


def test_a_replica_rejecting_alone_is_seen_as_rejected_by_the_client() -> None:
    """Straight from a replica (no router): no token then [DONE] means rejected."""
    async def body(router: ReplicaRouter, url: str, http: aiohttp.ClientSession,
                   seen: list[list[dict]]) -> None:
        res = await _call(http, router.upstreams[0])
        assert res.status == Status.REJECTED

    _run([True], body)


def test_first_replica_is_round_robin() -> None:
    async def body(router: ReplicaRouter, url: str, http: aiohttp.ClientSession,
                   seen: list[list[dict]]) -> None:
        replicas = [(await _call(http, url, 2)).replica for _ in range(4)]
        assert replicas == [0, 1, 0, 1]
        assert all(x["last_try"] is False for s in seen for x in s)  # never forwarded

    _run([False, False], body)


def test_a_client_leaving_mid_stream_is_no_server_error(caplog: Any) -> None:
    """A client may close its stream early (or right after [DONE]): the router stops
    relaying without an unhandled error (a traceback per call in its log) and serves on."""
    async def body(router: ReplicaRouter, url: str, http: aiohttp.ClientSession,
                   seen: list[list[dict]]) -> None:
        payload = {"model": "m", "prompt": "hi", "max_tokens": 40, "stream": True,
                   "vllm_xargs": {"ttft_slo_s": 1.0}}
        resp = await http.post(url + "/v1/completions", json=payload)
        await resp.content.readline()
        resp.close()                       # gone after its first line
        await asyncio.sleep(0.5)           # the router writes on into a closed socket
        assert (await _call(http, url)).status == Status.OK

    with caplog.at_level(logging.ERROR):
        _run([False], body, token_s=0.01)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
