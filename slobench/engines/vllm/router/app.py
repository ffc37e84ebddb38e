"""SLOs-Serve's multi-replica router (SPEC §7): an OpenAI-compatible streaming proxy.

A completion request goes to a first replica chosen round-robin. The router reads the
replica's stream until the first token arrives; a replica whose SLO admission rejected
the request ends its stream with no token (see `slobench.engines.vllm.plugin.config`), and the
router then offers the request to the next replica, each at most once. Every offer but
the last carries `vllm_xargs.last_try = false`, the last `true`: only the last replica
may keep a request it cannot admit as best-effort. Once a token came, the replica's
stream is passed through untouched (the buffered head first). A request every replica
rejected gets one SSE error event of type `slo_rejected` (then `[DONE]`), which the load
generator records as status `rejected`. The replica that served a request is named in
the `x-slobench-replica` response header.

Also: `GET /health` (200 when every replica answers its /health), `GET /metrics`
(Prometheus text: requests, forwards and rejections per replica), `GET /v1/models`
(the first replica's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
from collections import Counter
from typing import Any

import aiohttp
from aiohttp import web

from slobench.core.outcome import REJECTED_TYPE
from slobench.core.request import with_last_try
from slobench.engines.http.sse import event_tokens, parse_line
from slobench.engines.offer_order import OfferOrder

__all__ = ["REJECTED_TYPE", "REPLICA_HEADER", "ReplicaRouter", "main"]

log = logging.getLogger(__name__)

REPLICA_HEADER = "x-slobench-replica"
_COMPLETION_PATHS = ("/v1/completions", "/v1/chat/completions")


class ReplicaRouter:
    def __init__(self, upstreams: list[str], timeout_s: float = 3600.0) -> None:
        if not upstreams:
            raise ValueError("the router needs at least one upstream replica")
        self.upstreams = [u.rstrip("/") for u in upstreams]
        self.timeout_s = timeout_s
        self.order = OfferOrder(len(self.upstreams))     # round-robin first offers (SPEC §7)
        self.requests = 0
        self.forwarded: Counter[int] = Counter()     # offers sent to replica i
        self.rejected: Counter[int] = Counter()      # rejections by replica i
        self.served: Counter[int] = Counter()        # streams passed through from replica i
        self.rejected_final = 0
        self.http: aiohttp.ClientSession | None = None

    # -- app ---------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        for path in _COMPLETION_PATHS:
            app.router.add_post(path, self.completion)
        app.router.add_get("/health", self.health)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/v1/models", self.models)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, _app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=0)
        self.http = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None, sock_connect=30))

    async def _stop(self, _app: web.Application) -> None:
        if self.http is not None:
            await self.http.close()

    # -- handlers ----------------------------------------------------------------------
    async def completion(self, request: web.Request) -> web.StreamResponse:
        assert self.http is not None
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            return web.json_response({"error": {"message": "body is not JSON",
                                                "type": "BadRequest", "code": 400}},
                                     status=400)
        self.requests += 1
        order = self.order.offer_order()
        stream = bool(body.get("stream"))
        for k, idx in enumerate(order):
            last = k == len(order) - 1
            offer = dict(body)
            offer["vllm_xargs"] = with_last_try(body.get("vllm_xargs"), last)
            self.forwarded[idx] += 1
            url = self.upstreams[idx] + request.path
            if stream:
                resp = await self._offer_stream(request, idx, url, offer)
            else:
                resp = await self._offer_plain(idx, url, offer)
            if resp is not None:
                return resp
            self.rejected[idx] += 1
        self.rejected_final += 1
        log.debug("request rejected by all %d replicas", len(order))
        return await self._send_rejection(request, stream)

    async def _offer_stream(self, request: web.Request, idx: int, url: str,
                            body: dict[str, Any]) -> web.StreamResponse | None:
        """Pass the replica's stream through once a token came; None when it rejected."""
        assert self.http is not None
        async with self.http.post(url, json=body) as up:
            if up.status != 200:
                return web.Response(status=up.status, body=await up.read(),
                                    content_type=up.content_type)
            head: list[bytes] = []
            started = False
            async for raw in up.content:
                head.append(raw)
                line = parse_line(raw)
                if line is None:
                    continue
                if line.done:
                    break
                if line.event is None:
                    started = True            # not ours to judge: pass it through
                    break
                if "error" in line.event or event_tokens(line.event):
                    started = True
                    break
            if not started:
                return None                   # ended with no token: rejected
            out = web.StreamResponse(status=200, headers={
                "Content-Type": up.headers.get("Content-Type", "text/event-stream"),
                "Cache-Control": "no-cache", REPLICA_HEADER: str(idx)})
            await out.prepare(request)
            self.served[idx] += 1
            try:
                for line in head:
                    await out.write(line)
                async for chunk in up.content.iter_any():
                    await out.write(chunk)
                await out.write_eof()
            except ConnectionResetError:
                # The client left (it closes once it has read [DONE]): leaving the
                # upstream block drops the replica's stream, which aborts the request.
                log.debug("client of replica %d's stream went away", idx)
            return out

    async def _offer_plain(self, idx: int, url: str,
                           body: dict[str, Any]) -> web.Response | None:
        assert self.http is not None
        async with self.http.post(url, json=body) as up:
            data = await up.read()
            if up.status == 200:
                with contextlib.suppress(ValueError, AttributeError):
                    usage = json.loads(data).get("usage") or {}
                    if usage.get("completion_tokens") == 0 and body.get("max_tokens", 1):
                        return None
                self.served[idx] += 1
            return web.Response(status=up.status, body=data, content_type=up.content_type,
                                headers={REPLICA_HEADER: str(idx)})

    async def _send_rejection(self, request: web.Request, stream: bool) -> web.StreamResponse:
        err = {"error": {"message": "rejected by SLO admission on every replica",
                         "type": REJECTED_TYPE, "code": 429}}
        if not stream:
            return web.json_response(err, status=429)
        out = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream",
                                                      REPLICA_HEADER: "-1"})
        await out.prepare(request)
        await out.write(f"data: {json.dumps(err)}\n\n".encode())
        await out.write(b"data: [DONE]\n\n")
        await out.write_eof()
        return out

    async def health(self, _request: web.Request) -> web.Response:
        assert self.http is not None

        async def one(url: str) -> bool:
            try:
                async with asyncio.timeout(5), self.http.get(url + "/health") as r:  # type: ignore[union-attr]
                    return r.status == 200
            except (aiohttp.ClientError, OSError, TimeoutError):
                return False

        ok = await asyncio.gather(*(one(u) for u in self.upstreams))
        return web.json_response({"replicas": dict(zip(self.upstreams, ok, strict=True))},
                                 status=200 if all(ok) else 503)

    async def models(self, _request: web.Request) -> web.Response:
        assert self.http is not None
        async with self.http.get(self.upstreams[0] + "/v1/models") as up:
            return web.Response(status=up.status, body=await up.read(),
                                content_type=up.content_type)

    async def metrics(self, _request: web.Request) -> web.Response:
        lines = ["# TYPE slobench_router_requests_total counter",
                 f"slobench_router_requests_total {self.requests}",
                 "# TYPE slobench_router_rejected_final_total counter",
                 f"slobench_router_rejected_final_total {self.rejected_final}"]
        for name, counter in (("forwarded", self.forwarded), ("rejected", self.rejected),
                              ("served", self.served)):
            lines.append(f"# TYPE slobench_router_{name}_total counter")
            for i, url in enumerate(self.upstreams):
                lines.append(f'slobench_router_{name}_total{{replica="{i}",url="{url}"}} '
                             f"{counter[i]}")
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    def snapshot(self) -> dict[str, Any]:
        n = len(self.upstreams)
        return {"requests": self.requests, "rejected_final": self.rejected_final,
                "forwarded": [self.forwarded[i] for i in range(n)],
                "rejected": [self.rejected[i] for i in range(n)],
                "served": [self.served[i] for i in range(n)]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m slobench.engines.vllm.router",
                                 description="SLOs-Serve router in front of vLLM replicas")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--upstream", action="append", required=True,
                    help="base URL of a replica (repeat)")
    args = ap.parse_args(argv)
    web.run_app(ReplicaRouter(args.upstream).app(), host=args.host, port=args.port,
                print=None, access_log=None)
