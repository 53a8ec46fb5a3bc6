"""WebSockets across the proxy: the handshake forwarded as any request is (refused cookies
already hidden by the middleware, ``X-Forwarded-*`` added), then messages relayed both ways
until one side closes, its close code passed on to the other.

An ASGI app sees a WebSocket as messages, not bytes, so the proxy speaks the protocol to the
upstream itself, with the ``websockets`` library's client (the library uvicorn serves
WebSockets with). Each hop is its own WebSocket (nginx, which pipes the bytes after the 101,
has one end to end): pings are answered on each hop and not relayed, and the messages are
relayed whole, one at a time, so a slow reader slows the sender down (the server in front
stops reading, the upstream connection keeps at most ``MAX_QUEUE`` frames) instead of
filling memory.

Faults: an upstream that cannot be reached, or answers the handshake with something that is
not HTTP, gets the client a 502 in place of the 101 (RFC 9110 section 15.6.3), as nginx
answers, and one that does not answer within ``upstream_read_timeout`` a 504; an upstream
that refuses the handshake (a 403 of its own) has its answer passed on. An upstream
connection lost without a closing handshake closes the client's with 1014 (Bad Gateway, the
IANA registry's code for a proxy's upstream failing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from typing import Any

from starlette.types import Message, Receive, Scope, Send
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.http11 import Request

from gateway.proxy.headers import Headers, response_headers
from gateway.proxy.upstreams import FAIL_SECONDS, Upstream, Upstreams, tls_failure

logger = logging.getLogger("consent_gateway.proxy")
MAX_MESSAGE = 16 * 1024 * 1024  # as uvicorn's ws_max_size: the largest message relayed
MAX_QUEUE = 4  # frames read from the upstream ahead of the client
BAD_GATEWAY = 1014  # the upstream's connection ended without a closing handshake
GOING_AWAY = 1001
NORMAL = 1000
_TEXT = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")]
# Codes that say what happened and are never sent in a close frame (RFC 6455 section 7.4.1).
_UNSENDABLE = {1005: NORMAL, 1006: GOING_AWAY, 1015: GOING_AWAY}
# Written by each hop's WebSocket library itself, never copied across.
_HANDSHAKE = frozenset(
    {
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"sec-websocket-accept",
    }
)


class _Connection(ClientConnection):
    """websockets' client connection, sending the handshake's ``Host`` as the proxy
    forwards it (the client's) instead of the upstream URL's."""

    async def handshake(
        self, additional_headers: Any = None, user_agent_header: Any = None
    ) -> None:
        make = self.protocol.connect

        def request() -> Request:
            made = make()
            if any(name.lower() == "host" for name, _ in additional_headers or ()):
                del made.headers["Host"]
            return made

        self.protocol.connect = request  # type: ignore[method-assign]
        await super().handshake(additional_headers, None)


async def forward_websocket(
    scope: Scope, receive: Receive, send: Send, upstreams: Upstreams, headers: Headers
) -> None:
    """Open the upstream's WebSocket for the client's handshake (``headers``: what the
    upstream gets), then relay messages until one side closes."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    target = scope.get("raw_path") or scope["path"].encode("ascii", "backslashreplace")
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    path = target.decode("ascii", "replace")
    sent = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in headers
        if name not in _HANDSHAKE
    ]
    subprotocols = list(scope.get("subprotocols") or ()) or None
    upstream: ClientConnection | None = None
    for candidate in upstreams.order():
        try:
            sock = await _connected(candidate, upstreams.connect_timeout)
        except (OSError, TimeoutError) as error:
            logger.warning("upstream %s: websocket: %s", candidate.url, error or "timeout")
            candidate.down_until = time.monotonic() + FAIL_SECONDS
            continue  # nothing was sent: the next upstream may answer
        try:
            upstream = await _open(candidate, sock, path, sent, subprotocols, upstreams)
        except InvalidStatus as refused:
            await _refused(scope, send, refused)
            return
        except TimeoutError:
            logger.warning("upstream %s: websocket: no handshake in time", candidate.url)
            body = b"The site did not answer in time.\n"
            await _answer(scope, send, 504, _TEXT, body)
            return
        except ssl.SSLError as error:
            logger.warning("upstream %s: websocket: %s", candidate.url, tls_failure(error))
            candidate.down_until = time.monotonic() + FAIL_SECONDS
            continue  # the handshake failed before anything was sent
        except (OSError, InvalidHandshake) as error:
            logger.warning("upstream %s: websocket: %s", candidate.url, error)
            continue  # a GET, and nothing reached the client: sent again, elsewhere
        break
    if upstream is None:
        await _answer(scope, send, 502, _TEXT, b"The site could not be reached.\n")
        return
    accepted = [
        (name, value) for name, value in response_headers(_raw(upstream)) if name not in _HANDSHAKE
    ]
    await send(
        {"type": "websocket.accept", "subprotocol": upstream.subprotocol, "headers": accepted}
    )
    await _relay(upstream, receive, send)


async def _connected(upstream: Upstream, timeout: float) -> socket.socket:
    """A TCP connection to ``upstream`` within ``timeout`` seconds (``connect_timeout``);
    the handshake then has ``read_timeout``, as a request has."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        addresses = await loop.getaddrinfo(upstream.host, upstream.port, type=socket.SOCK_STREAM)
        failure: OSError = OSError(f"no address for {upstream.host}")
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, address)
            except OSError as error:
                sock.close()
                failure = error
                continue
            except BaseException:
                sock.close()
                raise
            return sock
        raise failure


async def _open(
    upstream: Upstream,
    sock: socket.socket,
    path: str,
    headers: list[tuple[str, str]],
    subprotocols: list[str] | None,
    upstreams: Upstreams,
) -> ClientConnection:
    uri = "ws" + upstream.url.removeprefix("http").rstrip("/") + path
    return await connect(
        uri,
        additional_headers=headers,
        user_agent_header=None,  # the client's, among ``headers``
        subprotocols=subprotocols,  # type: ignore[arg-type]
        compression=None,  # the upstream is near: no CPU spent on each message twice
        proxy=None,  # never one from the environment
        open_timeout=upstreams.read_timeout,
        max_size=MAX_MESSAGE,
        max_queue=MAX_QUEUE,
        create_connection=_Connection,
        sock=sock,
        **upstreams.tls_options(upstream),  # wss:// for https://, with the shared context
    )


def _raw(upstream: ClientConnection) -> list[tuple[bytes, bytes]]:
    response = upstream.response
    if response is None:
        return []
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.raw_items()
    ]


async def _relay(upstream: ClientConnection, receive: Receive, send: Send) -> None:
    """Both directions at once, until one side closes; then the other is closed with the
    same code."""
    inward = asyncio.create_task(_client_to_upstream(upstream, receive))
    outward = asyncio.create_task(_upstream_to_client(upstream, send))
    try:
        done, _ = await asyncio.wait({inward, outward}, return_when=asyncio.FIRST_COMPLETED)
        if inward in done and inward.exception() is None:
            # The client closed and the upstream was told: nothing more goes to the client.
            outward.cancel()
            return
        await asyncio.wait({outward})  # the upstream's connection is over: it ends
        inward.cancel()
        received = upstream.protocol.close_rcvd
        if received is None:
            sent = upstream.protocol.close_sent
            code = sent.code if sent is not None and sent.code != NORMAL else BAD_GATEWAY
            reason = ""
        else:
            code = _UNSENDABLE.get(received.code, received.code)
            reason = received.reason
        with contextlib.suppress(Exception):  # the client went away meanwhile
            await send({"type": "websocket.close", "code": code, "reason": reason})
    finally:
        for task in (inward, outward):
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(inward, outward, return_exceptions=True)
        await upstream.close(GOING_AWAY)  # does nothing once the closing handshake is over


async def _client_to_upstream(upstream: ClientConnection, receive: Receive) -> None:
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.receive":
            data = message.get("bytes")
            await upstream.send(data if data is not None else message.get("text", ""))
        elif kind == "websocket.disconnect":
            code: int = message.get("code") or NORMAL
            await upstream.close(_UNSENDABLE.get(code, code), message.get("reason") or "")
            return


async def _upstream_to_client(upstream: ClientConnection, send: Send) -> None:
    """The upstream's messages to the client; once the client is gone, they are read and
    dropped, so that the upstream's close frame behind them is read without waiting for
    the closing handshake's timeout."""
    client_gone = False
    with contextlib.suppress(ConnectionClosed):
        while True:
            data = await upstream.recv()
            if client_gone:
                continue
            message: Message = (
                {"type": "websocket.send", "text": data}
                if isinstance(data, str)
                else {"type": "websocket.send", "bytes": data}
            )
            try:
                await send(message)
            except Exception:  # uvicorn's ClientDisconnected, or the socket's error
                client_gone = True


async def _refused(scope: Scope, send: Send, refused: InvalidStatus) -> None:
    """The upstream answered the handshake with something other than 101: that answer."""
    response = refused.response
    raw = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.raw_items()
    ]
    headers = [
        (name, value)
        for name, value in response_headers(raw)
        if name not in _HANDSHAKE and name != b"content-length"
    ]
    await _answer(scope, send, response.status_code, headers, bytes(response.body or b""))


async def _answer(
    scope: Scope, send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    """An HTTP response in place of the handshake's 101, where the server in front can send
    one (the ASGI ``websocket.http.response`` extension, which uvicorn has); otherwise the
    handshake is refused (uvicorn answers 403)."""
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": GOING_AWAY})
        return
    headers = [*headers, (b"content-length", b"%d" % len(body))]
    start: Message = {"type": "websocket.http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "websocket.http.response.body", "body": body})
