"""``ProxyApp``: the ASGI app that forwards each request to an upstream and streams the
response back, for ``ConsentMiddleware`` to wrap (``consent-gateway serve``)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from html import escape
from urllib.parse import quote

from starlette.types import Message, Receive, Scope, Send

from gateway.proxies import ProxyPeer
from gateway.proxy.connection import ClientGone, UpstreamConnection, UpstreamError, UpstreamTimeout
from gateway.proxy.headers import Headers, accept_of, request_headers, response_headers
from gateway.proxy.upstreams import Upstreams
from gateway.proxy.websocket import forward_websocket
from gateway.settings import Settings

logger = logging.getLogger("consent_gateway.proxy")
# RFC 9110 section 9.2.2: a request these methods make may be sent again.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
# A WebSocket's scope says ws or wss; X-Forwarded-Proto and Forwarded say http or https.
_HTTP_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
WATCH_AFTER = 0.05  # seconds of a response before the client's disconnect is watched for
TITLES = {
    413: "Content Too Large",
    502: "Bad Gateway",
    504: "Gateway Timeout",
    501: "Not Implemented",
}


class UpstreamBroken(Exception):
    """The upstream failed after the response started: ``faults.upstream_faults`` answers
    502 if the client has seen nothing yet, else has its connection closed, so the client
    sees a truncated response, never a complete one."""


class _BodyTooLarge(Exception):
    pass


class ProxyApp:
    """Forward HTTP requests to ``upstreams`` over HTTP/1.1."""

    def __init__(self, upstreams: Upstreams, *, max_body_size: int, proxy_headers: str) -> None:
        self.upstreams = upstreams
        self.max_body_size = max_body_size or None
        self.proxy_headers = proxy_headers
        self._watches: _Watches | None = None  # made in the event loop, with the first request

    @classmethod
    def from_settings(cls, settings: Settings) -> ProxyApp:
        upstreams = Upstreams(
            settings.upstream,
            connect_timeout=settings.upstream_connect_timeout,
            read_timeout=settings.upstream_read_timeout,
            keepalive=settings.upstream_keepalive,
            ca_file=settings.upstream_ca_file,
            ready_interval=settings.upstream_ready_interval,
        )
        return cls(
            upstreams, max_body_size=settings.max_body_size, proxy_headers=settings.proxy_headers
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._forward(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            headers = self._headers(scope, "GET", scope["headers"], None)
            await forward_websocket(scope, receive, send, self.upstreams, headers)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.upstreams.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        headers: Sequence[tuple[bytes, bytes]] = scope["headers"]
        accept = accept_of(headers)
        length, chunked = _framing(headers)
        limit = self.max_body_size
        if limit is not None and length is not None and length > limit:
            await _error(send, 413, accept, f"The request body may be at most {limit} bytes.")
            return
        head = self._head(scope, method, headers, accept, length, chunked)
        has_body = chunked or bool(length)
        body_read = False  # once the client's body is read, the request cannot be sent again
        failure: UpstreamError | None = None
        tries = self.upstreams.order()
        if len(tries) == 1:
            tries *= 2  # a kept connection the upstream closed meanwhile: once more, anew
        for upstream in tries:
            try:
                # Once a request failed, the next try gets a new connection: the other kept
                # ones may have been closed by the upstream just as well.
                connection, _ = await self.upstreams.acquire(upstream, fresh=failure is not None)
            except UpstreamError as error:
                logger.warning("upstream: %s", error)
                failure = error
                continue  # nothing was sent: any request may go elsewhere
            connection.begin(head=method == "HEAD")
            watcher: _Watch | None = None
            try:
                await connection.write(head)
                if has_body:
                    body_read = True
                    try:
                        await self._send_body(connection, receive, chunked, limit)
                    except UpstreamError:
                        if not connection.answered():
                            raise
                        # It answered before reading the whole body (a 413 of its own):
                        # that answer is the response.
                watches = self._watches
                if watches is None or watches.loop is not connection.loop:
                    watches = self._watches = _Watches(connection.loop)
                watcher = _Watch(receive, connection, watches)
                start = await connection.next_event()
            except _BodyTooLarge:
                connection.close()
                await _error(send, 413, accept, f"The request body may be at most {limit} bytes.")
                return
            except ClientGone:
                connection.close()
                return
            except UpstreamTimeout as error:
                _cancel(watcher)
                connection.close()
                logger.warning("upstream %s: %s", upstream.url, error)
                await _error(send, 504, accept, "The site did not answer in time.")
                return
            except UpstreamError as error:
                _cancel(watcher)
                connection.close()
                logger.warning("upstream %s: %s", upstream.url, error)
                failure = error
                if body_read or method not in IDEMPOTENT:
                    break
                continue
            except BaseException:  # cancelled: the connection is in the middle of a request
                _cancel(watcher)
                connection.close()
                raise
            assert start is not None and start[0] == "start"
            try:
                await self._respond(start[1], start[2], connection, send)
            except UpstreamBroken as broken:
                connection.close()
                raise UpstreamBroken(f"upstream {upstream.url}: {broken}") from None
            except BaseException:
                connection.close()
                raise
            finally:
                _cancel(watcher)
            self.upstreams.release(upstream, connection)
            return
        logger.warning("no upstream answered: %s", failure)
        await _error(send, 502, accept, "The site could not be reached.")

    def _head(
        self,
        scope: Scope,
        method: str,
        headers: Sequence[tuple[bytes, bytes]],
        accept: bytes | None,
        length: int | None,
        chunked: bool,
    ) -> bytes:
        """The request line and headers for the upstream."""
        forwarded = self._headers(scope, method, headers, accept)
        if chunked:
            forwarded.append((b"transfer-encoding", b"chunked"))
        elif length is not None:
            forwarded.append((b"content-length", b"%d" % length))
        target = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        lines = [b"%s %s HTTP/1.1" % (method.encode("ascii"), target)]
        lines += [name + b": " + value for name, value in forwarded]
        lines += [b"", b""]
        return b"\r\n".join(lines)

    def _headers(
        self,
        scope: Scope,
        method: str,
        headers: Sequence[tuple[bytes, bytes]],
        accept: bytes | None,
    ) -> Headers:
        """The request headers for the upstream, without the body's framing."""
        state = scope.get("state") or {}
        proxy = state.get("proxy")
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        peer = proxy.client[0] if isinstance(proxy, ProxyPeer) else address
        for name, _ in headers:
            if name == b"host":
                break
        else:
            # An HTTP/1.0 request may come without Host; HTTP/1.1 needs one: the address
            # the gateway was reached at.
            server = scope.get("server") or ("localhost", None)
            host = server[0] if server[1] in (None, 80) else f"{server[0]}:{server[1]}"
            headers = [*headers, (b"host", host.encode("latin-1"))]
        return request_headers(
            headers,
            peer=peer,
            proxy=proxy if isinstance(proxy, ProxyPeer) else None,
            proxy_kind=self.proxy_headers,
            client=address,
            scheme=_HTTP_SCHEMES.get(scope.get("scheme", "http"), "http"),
            method=method,
            accept=accept,
        )

    async def _send_body(
        self, connection: UpstreamConnection, receive: Receive, chunked: bool, limit: int | None
    ) -> None:
        """Stream the client's body to the upstream as it arrives."""
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            body: bytes = message.get("body", b"")
            total += len(body)
            if limit is not None and total > limit:
                raise _BodyTooLarge
            if body:
                await connection.write(b"%x\r\n%s\r\n" % (len(body), body) if chunked else body)
            if not message.get("more_body"):
                break
        if chunked:
            await connection.write(b"0\r\n\r\n")

    async def _respond(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        connection: UpstreamConnection,
        send: Send,
    ) -> None:
        """Stream the response: each piece goes out as it arrives (Server-Sent Events)."""
        start: Message = {
            "type": "http.response.start",
            "status": status,
            "headers": response_headers(headers),
        }
        await send(start)
        while True:
            try:
                event = await connection.next_event()
            except ClientGone:
                return
            except UpstreamError as error:
                # Raised, never a normal end here: that would make the response look complete.
                raise UpstreamBroken(f"failed during the response: {error}") from None
            if event is None:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            assert event[0] == "body"
            last = connection.finished()
            await send({"type": "http.response.body", "body": event[1], "more_body": not last})
            if last:
                return


class _Watch:
    """While the upstream answers: a client that goes away cancels its upstream request.

    The task that waits for the client's disconnect starts only once a response has taken
    longer than ``WATCH_AFTER`` seconds (at most twice that, ``_Watches``): a task for every
    request cost some 10% of the requests per second of small responses, which are over
    before then."""

    __slots__ = ("_connection", "_receive", "_task", "_watches")

    def __init__(self, receive: Receive, connection: UpstreamConnection, watches: _Watches) -> None:
        self._receive = receive
        self._connection = connection
        self._task: asyncio.Task[None] | None = None
        self._watches = watches
        watches.add(self)

    def start(self) -> None:
        self._task = self._connection.loop.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                if not self._connection.finished():
                    self._connection.abort(ClientGone())
                return

    def cancel(self) -> None:
        self._watches.discard(self)
        if self._task is not None:
            self._task.cancel()


class _Watches:
    """The watches of the requests in flight, and one timer for all of them that starts
    each watch in flight through a whole tick of ``WATCH_AFTER`` seconds: a timer of its own
    for each request (``call_later``, then ``cancel``) cost some 2% of a small request."""

    __slots__ = ("_new", "_old", "_timer", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._new: set[_Watch] = set()  # added since the last tick
        self._old: set[_Watch] = set()  # in flight at the last tick: started at the next
        self._timer: asyncio.TimerHandle | None = None

    def add(self, watch: _Watch) -> None:
        self._new.add(watch)
        if self._timer is None:
            self._timer = self.loop.call_later(WATCH_AFTER, self._tick)

    def discard(self, watch: _Watch) -> None:
        self._new.discard(watch)
        self._old.discard(watch)

    def _tick(self) -> None:
        due, self._old, self._new = self._old, self._new, set()
        for watch in due:
            watch.start()
        self._timer = self.loop.call_later(WATCH_AFTER, self._tick) if self._old else None


def _cancel(watch: _Watch | None) -> None:
    if watch is not None:
        watch.cancel()


def _framing(headers: Sequence[tuple[bytes, bytes]]) -> tuple[int | None, bool]:
    """The request body's Content-Length, and whether it is chunked (the server in front
    parsed and checked both)."""
    length: int | None = None
    chunked = False
    for name, value in headers:
        if name == b"content-length" and value.strip().isdigit():
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return (None if chunked else length), chunked


async def _error(send: Send, status: int, accept: bytes | None, detail: str) -> None:
    """A small page for a fault: JSON for a client that asks for JSON, HTML otherwise."""
    title = TITLES[status]
    wants = (accept or b"").lower()
    if b"json" in wants and b"text/html" not in wants:
        body = json.dumps({"error": title, "status": status, "detail": detail}).encode()
        kind = b"application/json"
    else:
        page = (
            f'<!doctype html>\n<html lang="en"><meta charset="utf-8"><title>{status} {title}'
            f"</title>\n<h1>{title}</h1>\n<p>{escape(detail)}</p>\n</html>\n"
        )
        body = page.encode()
        kind = b"text/html; charset=utf-8"
    headers = [
        (b"content-type", kind),
        (b"content-length", b"%d" % len(body)),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
