"""The SLOs-Serve router against tiny fake upstreams (pure Python, fast).

A fake replica either rejects (a stream that ends with no token, as vLLM sends a
zero-token abort) or streams tokens; each records the `vllm_xargs` it was offered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from slobench.engines.vllm_launcher import free_port
from slobench.loadgen.stream import stream_call
from slobench.records.record import Status
from slobench.router.app import Router


def _fake(reject: bool, seen: list[dict], token_gap_s: float = 0.0) -> web.Application:
    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen.append(body.get("vllm_xargs") or {})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        n = 0 if reject else int(body["max_tokens"])
        for i in range(n):
            await asyncio.sleep(token_gap_s)
            chunk = {"choices": [{"index": 0, "text": "x", "token_ids": [100 + i],
                                  "finish_reason": "length" if i == n - 1 else None}]}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        usage = {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": n}}
        await resp.write(f"data: {json.dumps(usage)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
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
         body: Callable[[Router, str, aiohttp.ClientSession, list[list[dict]]],
                        Awaitable[Any]], routing: str = "round_robin",
         token_gaps_s: tuple[float, ...] = ()) -> Any:
    async def go() -> Any:
        seen: list[list[dict]] = [[] for _ in rejects]
        runners, urls = [], []
        gaps = token_gaps_s or (0.0,) * len(rejects)
        for reject, s, gap in zip(rejects, seen, gaps, strict=True):
            r, u = await _serve(_fake(reject, s, gap))
            runners.append(r)
            urls.append(u)
        router = Router(urls, routing=routing)
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
    async def body(router: Router, url: str, http: aiohttp.ClientSession,
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
    async def body(router: Router, url: str, http: aiohttp.ClientSession,
                   seen: list[list[dict]]) -> None:
        res = await _call(http, url)
        assert res.status == Status.REJECTED and res.token_times == []
        assert router.snapshot()["rejected_final"] == 1

    _run([True, True], body)


def test_a_replica_rejecting_alone_is_seen_as_rejected_by_the_client() -> None:
    """Straight from a replica (no router): no token then [DONE] means rejected."""
    async def body(router: Router, url: str, http: aiohttp.ClientSession,
                   seen: list[list[dict]]) -> None:
        res = await _call(http, router.upstreams[0])
        assert res.status == Status.REJECTED

    _run([True], body)


def test_first_replica_is_round_robin() -> None:
    async def body(router: Router, url: str, http: aiohttp.ClientSession,
                   seen: list[list[dict]]) -> None:
        replicas = [(await _call(http, url, 2)).replica for _ in range(4)]
        assert replicas == [0, 1, 0, 1]
        assert all(x["last_try"] is False for s in seen for x in s)  # never forwarded

    _run([False, False], body)


def test_least_loaded_offers_first_to_the_replica_with_fewer_requests_in_flight() -> None:
    async def body(router: Router, url: str, http: aiohttp.ClientSession,
                   seen: list[list[dict]]) -> None:
        slow = asyncio.create_task(_call(http, url, 20))     # replica 0: 20 x 50 ms
        while router.in_flight[0] == 0:
            await asyncio.sleep(0.005)
        quick = [(await _call(http, url, 2)).replica for _ in range(3)]
        assert quick == [1, 1, 1]          # round-robin would have sent the second to 0
        assert (await slow).replica == 0
        assert router.in_flight[0] == router.in_flight[1] == 0

    _run([False, False], body, routing="least_loaded", token_gaps_s=(0.05, 0.0))
