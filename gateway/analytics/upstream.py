"""``HttpUpstream``: the forwarder's HTTP/1.1 client, POSTs over pooled keep-alive connections.

Only what forwarding needs: a POST, its status back, the response body read and dropped; no
redirects (a redirect must not move a hit to another host), no proxy from the environment,
no cookies, no decompression. TLS is verified against the system's certificate store.

Why not aiohttp, which this replaced: forwarding is half of what a one-request-per-hit
provider costs the worker, and aiohttp spent 106 µs of CPU on each POST here against
22 µs for this client (``benchmarks/bench_upstream.py``). The response is parsed by httptools
(llhttp, Node.js's parser, the one uvicorn uses), so none of the HTTP parsing is ours.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
import time
from collections import deque
from collections.abc import Mapping
from typing import cast
from urllib.parse import urlsplit

import httptools

from gateway.analytics.base import UpstreamError

IDLE_SECONDS = 15.0  # an idle connection older than this is closed, not reused (as aiohttp)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_UNSAFE_TARGET = re.compile(r"[\x00-\x20\x7f]")
_FRAMING = frozenset({"host", "content-length", "transfer-encoding", "connection"})

Origin = tuple[str, str, int]  # scheme, host, port


class _Stale(Exception):
    """A reused connection closed before any byte of the answer: safe to try a new one."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; answers one request at a time."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.answer: asyncio.Future[int] | None = None
        self.status = 0  # of the answer being read
        self.received = False  # any byte of this request's answer arrived
        self.reused = False
        self.closed = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.pool.open.add(self)

    def send(self, request: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.status = 0
        self.received = False
        self.transport.write(request)
        return self.answer

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            if self.answer is not None and not self.answer.done():
                self.answer.set_exception(UpstreamError("network"))
            self.abort()

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_message_complete(self) -> None:
        if self.status < 200:
            return  # an interim 1xx answer: the final one follows
        answer, self.answer = self.answer, None
        if answer is None:  # an answer nobody asked for: the connection cannot be trusted
            self.abort()
            return
        if self.parser.should_keep_alive() and not self.closed:
            self.pool.release(self)
        else:
            self.pool.lost()
            self.abort()
        if not answer.done():
            answer.set_result(self.status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        self.pool.open.discard(self)
        answer, self.answer = self.answer, None
        if answer is None:
            return  # idle, or its answer complete: it held no slot
        self.pool.lost()
        if answer.done():
            return
        if self.status >= 200:  # a body that ends with the connection: complete now
            answer.set_result(self.status)
        else:
            stale = self.reused and not self.received
            answer.set_exception(_Stale() if stale else UpstreamError("network"))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class _Pool:
    """The connections to one origin: idle ones reused newest first, at most ``limit``
    open at once (an idle connection is taken before a new one is opened)."""

    def __init__(self, origin: Origin, limit: int, tls: ssl.SSLContext | None) -> None:
        self.origin = origin
        self.tls = tls
        self.idle: deque[_Connection] = deque()
        self.open: set[_Connection] = set()
        self.slots = asyncio.Semaphore(limit)

    async def acquire(self, fresh: bool = False) -> _Connection:
        await self.slots.acquire()
        try:
            now = time.monotonic()
            while self.idle and not fresh:
                connection = self.idle.pop()
                if (
                    not connection.closed
                    and connection.transport is not None
                    and not connection.transport.is_closing()
                    and now - connection.idle_since < IDLE_SECONDS
                ):
                    connection.reused = True
                    return connection
                connection.abort()
            scheme, host, port = self.origin
            _, connection = await asyncio.get_running_loop().create_connection(
                lambda: _Connection(self),
                host,
                port,
                ssl=self.tls if scheme == "https" else None,
                server_hostname=host if scheme == "https" else None,
            )
            return connection
        except BaseException:
            self.slots.release()
            raise

    def release(self, connection: _Connection) -> None:
        connection.idle_since = time.monotonic()
        self.idle.append(connection)
        self.slots.release()

    def lost(self) -> None:
        self.slots.release()

    def close(self) -> None:
        self.idle.clear()
        for connection in list(self.open):
            connection.abort()


class HttpUpstream:
    """POSTs with a total timeout each (connecting included), ``connections`` at most open
    to one provider host; ``UpstreamError`` when no status came back."""

    def __init__(
        self, timeout: float, connections: int = 128, tls: ssl.SSLContext | None = None
    ) -> None:
        self._timeout = timeout
        self._limit = connections
        self._tls = tls
        self._pools: dict[Origin, _Pool] = {}

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        try:
            origin, request = _request(url, body, headers)
        except ValueError:
            raise UpstreamError("network") from None
        pool = self._pools.get(origin)
        if pool is None:
            if self._tls is None and origin[0] == "https":
                self._tls = ssl.create_default_context()
            pool = self._pools[origin] = _Pool(origin, self._limit, self._tls)
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    return await _exchange(await pool.acquire(), request)
                except _Stale:  # the server had closed the idle connection: a new one
                    # (never stale itself, so this is the only retry)
                    return await _exchange(await pool.acquire(fresh=True), request)
        except TimeoutError:
            raise UpstreamError("timeout") from None
        except OSError:  # refused, unreachable, a TLS failure (ssl.SSLError is an OSError)
            raise UpstreamError("network") from None

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        await asyncio.sleep(0)  # the loop finishes closing the sockets


async def _exchange(connection: _Connection, request: bytes) -> int:
    try:
        return await connection.send(request)
    except BaseException:  # the timeout's cancellation too: a late answer must not be read
        connection.abort()  # as the next request's
        raise


@functools.lru_cache(maxsize=256)
def _target(url: str) -> tuple[Origin, str]:
    """The origin to connect to and the start of the request up to its headers (the
    provider URLs repeat, so this is worked out once per URL). An ``lru_cache``, not a
    ``Memo``: its keys are the providers' URLs from the settings, a handful, never a
    client's input, and nothing reloads them."""
    parts = urlsplit(url)
    hostname = parts.hostname
    if parts.scheme not in ("http", "https") or not hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    default = 443 if parts.scheme == "https" else 80
    port = parts.port or default
    host = f"[{hostname}]" if ":" in hostname else hostname
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if _UNSAFE_TARGET.search(target):
        raise ValueError(f"space or control character in {url!r}")
    host_line = f"Host: {host}" if port == default else f"Host: {host}:{port}"
    return (parts.scheme, hostname, port), f"POST {target} HTTP/1.1\r\n{host_line}\r\n"


def _request(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[Origin, bytes]:
    """The origin to connect to and the request's bytes; ``ValueError`` for a URL that is
    not http(s) or a header that could split the request."""
    origin, head = _target(url)
    lines = [f"{head}Content-Length: {len(body)}"]
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or name.lower() in _FRAMING:
            raise ValueError(f"header name not allowed: {name!r}")
        if "\r" in value or "\n" in value or "\0" in value:
            raise ValueError(f"line break in header {name}")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return origin, "\r\n".join(lines).encode("latin-1") + body
