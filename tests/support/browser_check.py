"""Open a report in headless Chromium and check it the way a reader would see it.

Talks the Chrome DevTools Protocol over a websocket with aiohttp, so neither
selenium nor playwright is needed; only Debian's `chromium` binary. Reports
the page's console errors and exceptions, every request that leaves the
machine (anything but file:, data:, blob:, about:), how many plotly plots
drew, and a full-page PNG screenshot with a count of its distinct colours.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import signal
import struct
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

CHROMIUM = "/usr/bin/chromium"
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
PLOT_QUERY = "document.querySelectorAll('.js-plotly-plot .main-svg').length"


@dataclass
class PageCheck:
    console_errors: list[str]
    external_requests: list[str]
    plot_count: int
    screenshot_path: Path | None
    distinct_colours: int = 0


def check_page(html_path: str | Path, screenshot_path: str | Path | None = None, *,
               chromium: str = CHROMIUM, width: int = 1400, timeout_s: float = 120.0) -> PageCheck:
    shot = Path(screenshot_path) if screenshot_path else None
    with launch_chromium(chromium, width) as port:
        return asyncio.run(asyncio.wait_for(
            _check(port, Path(html_path).resolve().as_uri(), shot, width), timeout_s))


@contextlib.contextmanager
def launch_chromium(chromium: str = CHROMIUM, width: int = 1400) -> Iterator[int]:
    """Start headless Chromium; yields its DevTools port; kills its process group after."""
    with tempfile.TemporaryDirectory(prefix="slobench-chromium-") as profile:
        proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-dev-shm-usage", f"--window-size={width},1000",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # own process group: renderer/GPU children die with it
        )
        try:
            yield _wait_for_port(Path(profile) / "DevToolsActivePort", proc)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_for_port(port_file: Path, proc: subprocess.Popen[bytes], limit_s: float = 30) -> int:
    # Chromium picks a free port (we passed 0) and writes it here once listening.
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited early with status {proc.returncode}")
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(port_file.read_text().splitlines()[0])
        time.sleep(0.1)
    raise RuntimeError("chromium did not open its DevTools port")


class CdpSession:
    """Commands by id over one page websocket; events go to `events` and listeners."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        await self.ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params}))
        reply = await future
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def wait_for(self, method: str, limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        while not any(e["method"] == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {limit_s}s")
            await asyncio.sleep(0.05)

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._pending:
                self._pending.pop(data["id"]).set_result(data)
            elif "method" in data:
                self.events.append(data)

    async def close(self) -> None:
        self._reader.cancel()
        await self.ws.close()


@contextlib.asynccontextmanager
async def open_page(port: int) -> Any:
    async with aiohttp.ClientSession() as http:
        # Recent Chromium only accepts PUT for /json/new.
        async with http.put(f"http://127.0.0.1:{port}/json/new?about:blank") as resp:
            target = await resp.json(content_type=None)
        async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            session = CdpSession(ws)
            try:
                yield session
            finally:
                await session.close()


async def _check(port: int, url: str, shot: Path | None, width: int) -> PageCheck:
    async with open_page(port) as cdp:
        for domain in ("Runtime", "Log", "Network", "Page"):
            await cdp.send(f"{domain}.enable")
        await cdp.send("Emulation.setDeviceMetricsOverride", width=width, height=1000,
                       deviceScaleFactor=1, mobile=False)
        await cdp.send("Page.navigate", url=url)
        await cdp.wait_for("Page.loadEventFired", 60)
        plots = await _settled_plot_count(cdp)
        png = await screenshot(cdp)
        if shot is not None:
            shot.parent.mkdir(parents=True, exist_ok=True)
            shot.write_bytes(png)
        return PageCheck(console_errors=_errors(cdp.events),
                         external_requests=_external(cdp.events), plot_count=plots,
                         screenshot_path=shot, distinct_colours=distinct_colours(png))


async def _settled_plot_count(cdp: CdpSession, limit_s: float = 30) -> int:
    """Poll until the plot count stops changing (plotly may finish after the load event).

    No plots at all is accepted after a longer quiet spell (2 s) than a
    steady non-zero count (0.75 s), so a page that draws late is not cut short.
    """
    deadline, last, stable = time.monotonic() + limit_s, -1, 0
    while time.monotonic() < deadline and stable < (3 if last > 0 else 8):
        result = await cdp.send("Runtime.evaluate", expression=PLOT_QUERY, returnByValue=True)
        count = int(result["result"].get("value", 0))
        stable = stable + 1 if count == last else 0
        last = count
        await asyncio.sleep(0.25)
    return max(last, 0)


async def screenshot(cdp: CdpSession, clip: dict[str, float] | None = None) -> bytes:
    """PNG of `clip` (CSS pixels), or of the whole page."""
    if clip is None:
        size = (await cdp.send("Page.getLayoutMetrics"))["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}
    result = await cdp.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                            clip={**clip, "scale": 1})
    return base64.b64decode(result["data"])


def _errors(events: list[dict[str, Any]]) -> list[str]:
    found = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            found.append(f"exception: {text}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            found.append(f"log: {params['entry'].get('text', '')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            args = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
            found.append("console.error: " + " ".join(args))
    return found


def _external(events: list[dict[str, Any]]) -> list[str]:
    urls = (e["params"]["request"]["url"] for e in events
            if e["method"] == "Network.requestWillBeSent")
    return [u for u in urls if not u.startswith(LOCAL_SCHEMES)]


def decode_png(png: bytes) -> np.ndarray:
    """8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) to an H×W×C array."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, [], b""
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        chunk = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat.append(chunk)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    channels = {2: 3, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"unsupported PNG (depth {depth}, colour type {colour})")
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    rows = raw.reshape(height, 1 + width * channels)
    out = np.zeros((height, width * channels), dtype=np.uint8)
    prior = np.zeros(width * channels, dtype=np.uint8)
    for y in range(height):
        out[y] = prior = _unfilter(int(rows[y, 0]), rows[y, 1:], prior, channels)
    return out.reshape(height, width, channels)


def _unfilter(kind: int, line: np.ndarray, prior: np.ndarray, bpp: int) -> np.ndarray:
    if kind == 0:
        return line
    if kind == 2:
        return line + prior  # uint8 arithmetic wraps mod 256, as PNG wants
    if kind == 1:
        # Each pixel adds the one to its left: a running sum per channel.
        return np.cumsum(line.reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)
    # Average and Paeth depend on the byte just decoded: plain loop (rare in screenshots).
    cur = bytearray(line.tobytes())
    up = prior.tobytes()
    for i in range(len(cur)):
        left = cur[i - bpp] if i >= bpp else 0
        upper_left = up[i - bpp] if i >= bpp else 0
        if kind == 3:
            cur[i] = (cur[i] + (left + up[i]) // 2) & 0xFF
        else:
            p = left + up[i] - upper_left
            pa, pb, pc = abs(p - left), abs(p - up[i]), abs(p - upper_left)
            pred = left if pa <= pb and pa <= pc else up[i] if pb <= pc else upper_left
            cur[i] = (cur[i] + pred) & 0xFF
    return np.frombuffer(bytes(cur), dtype=np.uint8)


def distinct_colours(png: bytes) -> int:
    pixels = decode_png(png)[..., :3].reshape(-1, 3).astype(np.uint32)
    packed = (pixels[:, 0] << 16) | (pixels[:, 1] << 8) | pixels[:, 2]
    return len(np.unique(packed))
