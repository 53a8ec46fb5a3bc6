"""Mixed load through the edge proxy for its memory soak (``tests/proxy/test_soak.py`` for
some seconds, ``benchmarks/bench_proxy_soak.py`` for ten minutes): a site as many are run,
nginx serving static pages and JSON and passing uploads to a Node.js app (express) and
WebSockets to a ``ws`` server, with ``consent-gateway serve`` in front; clients fetching
pages the gateway injects its banner into, JSON, uploading a few megabytes and opening
WebSocket sessions that echo and close, while the gateway's resident memory is sampled."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

# The site: nginx in front of express (``/upload``) and the ``ws`` echo server (``/ws``), the
# ``http`` block of ``tests.support.nginx``.
SITE_HTTP = """
types {{ text/html html; application/json json; }}
gzip on;
gzip_types application/json;
gzip_min_length 256;
upstream app {{ server 127.0.0.1:{express}; keepalive 16; }}
server {{
    listen 127.0.0.1:{port};
    root {root}/site;
    keepalive_requests 100000;
    add_header Set-Cookie "_ga=GA1.1.987.654; Path=/; Max-Age=63072000";
    location = /upload {{
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://app;
    }}
    location /ws {{
        proxy_pass http://127.0.0.1:{ws};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_read_timeout 3600s;
    }}
}}
"""
BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
MIB = 1024 * 1024


def write_site(root: Path, page: str) -> None:
    """The static files of the site under ``root / "site"``."""
    site = root / "site"
    site.mkdir()
    (site / "index.html").write_text(page)
    (site / "data.json").write_text('{"id": 1, "tags": ["a", "b"], "pad": "' + "x" * 960 + '"}')


def rss(pid: int) -> float:
    """The resident set size of ``pid`` now, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@dataclass
class Mix:
    """What the load did, by kind; ``failures`` lists the first errors seen."""

    counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def summary(self) -> str:
        return ", ".join(f"{count:,} {kind}" for kind, count in sorted(self.counts.items()))


async def _page(client: httpx.AsyncClient, index: int) -> str:
    # A new visitor each time (no consent cookie): the banner goes in; a personal parameter
    # in the query for the access log to scrub.
    response = await client.get(
        f"/?utm_source=soak&email=visitor{index}%40example.org",
        headers={"Accept": "text/html", "Accept-Encoding": "gzip", "User-Agent": BROWSER},
    )
    response.raise_for_status()
    if b"/_consent/" not in response.content:
        raise AssertionError("no banner in the page")
    return "pages"


async def _json(client: httpx.AsyncClient, index: int) -> str:
    response = await client.get(
        f"/data.json?n={index}", headers={"Accept": "application/json", "User-Agent": BROWSER}
    )
    response.raise_for_status()
    response.json()
    return "json"


async def _upload(client: httpx.AsyncClient, index: int) -> str:
    size = (2 + index % 3) * MIB
    piece = bytes(256 * 1024)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(size // len(piece)):
            yield piece

    response = await client.post("/upload", content=body(), headers={"User-Agent": BROWSER})
    response.raise_for_status()
    if response.json()["bytes"] != size:
        raise AssertionError(f"upload: {response.text}")
    return "uploads"


async def _websocket(url: str, index: int) -> str:
    ws_url = url.replace("http://", "ws://") + f"/ws?session={index}"
    async with connect(ws_url, proxy=None, compression=None, max_size=None) as ws:
        for message in ("hello", b"\x01" * 64 * 1024, "x" * 200):
            await ws.send(message)
            if await ws.recv() != message:
                raise AssertionError("websocket echo differs")
    return "websockets"


async def mixed_load(url: str, seconds: float, mix: Mix, clients: int = 8) -> None:
    """``clients`` loops, each doing pages, JSON, an upload and a WebSocket session in turn
    (pages and JSON most often), for ``seconds``."""
    deadline = time.monotonic() + seconds
    counter = itertools.count()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        def http(
            step: Callable[[httpx.AsyncClient, int], Awaitable[str]],
        ) -> Callable[[int], Awaitable[str]]:
            return lambda index: step(client, index)

        cycle = [http(_page)] * 4 + [http(_json)] * 4 + [http(_upload)]
        cycle += [lambda index: _websocket(url, index)]

        async def one(offset: int) -> None:
            for step in itertools.islice(itertools.cycle(cycle), offset, None):
                if time.monotonic() >= deadline:
                    return
                try:
                    mix.add(await step(next(counter)))
                except Exception as error:  # counted; the load goes on
                    mix.add("failures")
                    if len(mix.failures) < 10:
                        mix.failures.append(repr(error))

        await asyncio.gather(*(one(offset) for offset in range(clients)))


async def soak(
    url: str,
    pid: int,
    warm_up: float,
    seconds: float,
    every: float,
    report: Callable[[float, float], None] = lambda _elapsed, _rss: None,
    clients: int = 8,
) -> tuple[Mix, list[float]]:
    """Warm the gateway up for ``warm_up`` seconds, then load it for ``seconds`` more,
    sampling its RSS (MiB) every ``every`` seconds (the first sample when warm-up ends, the
    last when the load stops)."""
    mix = Mix()
    samples: list[float] = []
    load = asyncio.create_task(mixed_load(url, warm_up + seconds, mix, clients))
    started = time.monotonic()
    await asyncio.sleep(warm_up)
    while not load.done():
        samples.append(rss(pid))
        report(time.monotonic() - started, samples[-1])
        await asyncio.wait({load}, timeout=every)
    await load
    samples.append(rss(pid))
    report(time.monotonic() - started, samples[-1])
    return mix, samples


def node_env(node_modules: Path) -> dict[str, str]:
    return {**os.environ, "NODE_PATH": str(node_modules)}
