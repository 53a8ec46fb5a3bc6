"""The forwarder's HTTP client against real servers on loopback: what arrives, connection
reuse, answers in every framing, servers that close, hang or talk nonsense, TLS, limits."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
import trustme

from gateway.analytics.base import UpstreamError
from gateway.analytics.upstream import HttpUpstream


@dataclass
class Request:
    line: str
    headers: dict[str, str]
    body: bytes
    peer: int  # the client's port: the same port means the same connection


@dataclass
class Server:
    port: int
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    open_now: int = 0
    most_open: int = 0

    def url(self, path: str = "/api/event", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"


async def read_request(reader: asyncio.StreamReader, peer: int) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    line, *rest = head.decode("latin-1").split("\r\n")
    headers = dict(item.split(": ", 1) for item in rest if item)
    body = await reader.readexactly(int(headers.get("Content-Length", "0")))
    return Request(line, headers, body, peer)


Answer = Callable[[Request], bytes | None]  # the bytes to send back (None: say nothing)


def ok(_: Request) -> bytes:
    return b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok"


@asynccontextmanager
async def server(
    answer: Answer = ok,
    tls: ssl.SSLContext | None = None,
    delay: float = 0.0,
    close_on_empty: bool = False,
    keep_alive: float | None = None,
    host: str = "127.0.0.1",
) -> AsyncIterator[Server]:
    """A keep-alive HTTP/1.1 server that records each request and sends ``answer``'s bytes
    (after ``delay`` seconds); it closes the connection after an answer that says
    ``Connection: close``, after an empty one with ``close_on_empty``, and when no request
    came for ``keep_alive`` seconds."""
    state = Server(0)
    hanging: list[asyncio.Future[None]] = []
    writers: list[asyncio.StreamWriter] = []
    handlers: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        state.connections += 1
        state.open_now += 1
        state.most_open = max(state.most_open, state.open_now)
        peer = writer.get_extra_info("peername")[1]
        try:
            while True:
                try:
                    request = await asyncio.wait_for(read_request(reader, peer), keep_alive)
                except TimeoutError:
                    return
                if request is None:
                    return
                state.requests.append(request)
                reply = answer(request)
                if reply is None:  # hang until the client gives up
                    hanging.append(asyncio.get_running_loop().create_future())
                    await asyncio.wait([hanging[-1]], timeout=30)
                    return
                await asyncio.sleep(delay)
                writer.write(reply)
                await writer.drain()
                if b"Connection: close" in reply or (close_on_empty and not reply):
                    return
        finally:
            state.open_now -= 1
            writer.close()

    listener = await asyncio.start_server(handle, host, 0, ssl=tls)
    state.port = listener.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        for future in hanging:
            if not future.done():
                future.set_result(None)
        listener.close()
        for writer in writers:  # the handlers see the end of their streams and return
            writer.close()
        if handlers:
            await asyncio.wait(handlers, timeout=5)


async def test_posts_arrive_whole_and_reuse_one_connection() -> None:
    client = HttpUpstream(timeout=5)
    async with server() as upstream:
        for marker in range(3):
            body = f'{{"n":"pageview","u":"https://a.example/{marker}"}}'.encode()
            headers = {"Content-Type": "application/json", "X-Forwarded-For": "203.0.113.0"}
            assert await client.post(upstream.url("/api/event?x=1&y=2"), body, headers) == 202
        await client.aclose()
    first = upstream.requests[0]
    assert first.line == "POST /api/event?x=1&y=2 HTTP/1.1"
    assert first.headers["Host"] == f"127.0.0.1:{upstream.port}"
    assert first.headers["X-Forwarded-For"] == "203.0.113.0"
    assert [r.body for r in upstream.requests] == [
        f'{{"n":"pageview","u":"https://a.example/{m}"}}'.encode() for m in range(3)
    ]
    assert upstream.connections == 1
    assert len({r.peer for r in upstream.requests}) == 1
    assert "Cookie" not in first.headers and "Accept-Encoding" not in first.headers


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n" + b"x" * 1048576,
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
    ],
    ids=["chunked", "1MB-body", "interim-103", "no-body"],
)
async def test_every_answer_framing_is_read_and_the_connection_kept(reply: bytes) -> None:
    client = HttpUpstream(timeout=5)
    async with server(lambda _: reply) as upstream:
        statuses = [await client.post(upstream.url(), b"{}", {}) for _ in range(3)]
        await client.aclose()
    assert statuses[0] in (200, 204) and len(set(statuses)) == 1
    assert len(upstream.requests) == 3
    assert upstream.connections == 1


async def test_the_status_is_the_providers_not_a_redirect_target() -> None:
    client = HttpUpstream(timeout=5)
    reply = (
        b"HTTP/1.1 302 Found\r\nLocation: http://elsewhere.example/\r\nContent-Length: 0\r\n\r\n"
    )
    async with server(lambda _: reply) as upstream:
        assert await client.post(upstream.url(), b"{}", {}) == 302
        assert await client.post(upstream.url(), b"{}", {}) == 302
        await client.aclose()
    assert len(upstream.requests) == 2  # nothing followed the Location


async def test_a_server_that_closes_after_answering_gets_a_new_connection_next_time() -> None:
    client = HttpUpstream(timeout=5)
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    async with server(lambda _: reply) as upstream:
        assert [await client.post(upstream.url(), b"{}", {}) for _ in range(3)] == [200] * 3
        await client.aclose()
    assert upstream.connections == 3


async def test_a_reused_connection_closed_before_answering_is_retried_once() -> None:
    """The race of a keep-alive timeout: the server closes the connection just as the next
    request goes out on it. The post is sent again on a new connection, not lost."""
    answers = iter([ok, None, ok])

    def second_dropped(request: Request) -> bytes | None:
        step = next(answers)
        return b"" if step is None else step(request)

    client = HttpUpstream(timeout=5)
    async with server(second_dropped, close_on_empty=True) as upstream:
        assert await client.post(upstream.url(), b"1", {}) == 202
        assert await client.post(upstream.url(), b"2", {}) == 202
        await client.aclose()
    assert [r.body for r in upstream.requests] == [b"1", b"2", b"2"]
    assert upstream.connections == 2


@pytest.mark.slow
async def test_keep_alive_timeout_of_the_server_is_survived() -> None:
    """The server closes a connection left idle for 0.2 s; the next post still arrives."""
    client = HttpUpstream(timeout=5)
    async with server(keep_alive=0.2) as upstream:
        assert await client.post(upstream.url(), b"1", {}) == 202
        await asyncio.sleep(0.5)
        assert await client.post(upstream.url(), b"2", {}) == 202
        await client.aclose()
    assert [r.body for r in upstream.requests] == [b"1", b"2"]
    assert upstream.connections == 2


@pytest.mark.slow
async def test_a_server_that_never_answers_is_a_timeout_and_frees_the_connection() -> None:
    client = HttpUpstream(timeout=0.3, connections=1)
    answers = iter([None, ok])

    def first_hangs(request: Request) -> bytes | None:
        step = next(answers)
        return None if step is None else step(request)

    async with server(first_hangs) as upstream:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(UpstreamError) as raised:
            await client.post(upstream.url(), b"{}", {})
        assert raised.value.reason == "timeout"
        assert 0.25 < loop.time() - started < 2
        # The only slot is free again: the next post goes out on a new connection.
        assert await client.post(upstream.url(), b"{}", {}) == 202
        await client.aclose()
    assert upstream.connections == 2


@pytest.mark.parametrize(
    "reply",
    [
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
        b"",
    ],
    ids=["not-http", "bad-length", "upgrade", "closes-silently"],
)
async def test_a_server_talking_nonsense_is_a_network_error(reply: bytes) -> None:
    client = HttpUpstream(timeout=5, connections=1)
    async with server(lambda _: reply, close_on_empty=True) as upstream:
        for _ in range(2):  # and the only slot is released each time
            with pytest.raises(UpstreamError) as raised:
                await client.post(upstream.url(), b"{}", {})
            assert raised.value.reason == "network"
        await client.aclose()
    assert len(upstream.requests) == 2


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_an_ipv6_provider_address_gets_a_bracketed_host_header() -> None:
    client = HttpUpstream(timeout=5)
    async with server(host="::1") as upstream:
        assert await client.post(f"http://[::1]:{upstream.port}/e?x=1", b"{}", {}) == 202
        await client.aclose()
    assert upstream.requests[0].line == "POST /e?x=1 HTTP/1.1"
    assert upstream.requests[0].headers["Host"] == f"[::1]:{upstream.port}"


async def test_a_closed_port_is_a_network_error() -> None:
    async with server() as upstream:
        port = upstream.port
    client = HttpUpstream(timeout=5)
    with pytest.raises(UpstreamError) as raised:
        await client.post(f"http://127.0.0.1:{port}/", b"{}", {})
    assert raised.value.reason == "network"


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("http://127.0.0.1:{port}/", {"X-Evil": "a\r\nInjected: yes"}),
        ("http://127.0.0.1:{port}/", {"Bad Name": "x"}),
        ("http://127.0.0.1:{port}/", {"Content-Length": "0"}),
        ("http://127.0.0.1:{port}/a b", {}),
        ("ftp://127.0.0.1:{port}/", {}),
        ("http://127.0.0.1:{port}/", {"User-Agent": "snowman \u2603"}),
    ],
    ids=["crlf-value", "bad-name", "framing-header", "space-in-path", "not-http", "not-latin1"],
)
async def test_a_request_that_could_be_split_is_not_sent(url: str, headers: dict[str, str]) -> None:
    client = HttpUpstream(timeout=5)
    async with server() as upstream:
        with pytest.raises(UpstreamError):
            await client.post(url.format(port=upstream.port), b"{}", headers)
        await client.aclose()
    assert upstream.requests == []


async def test_no_more_connections_than_the_limit() -> None:
    client = HttpUpstream(timeout=5, connections=3)
    async with server(delay=0.02) as upstream:
        posts = (client.post(upstream.url(), str(i).encode(), {}) for i in range(30))
        statuses = await asyncio.gather(*posts)
        await client.aclose()
    assert statuses == [202] * 30
    assert sorted(int(r.body) for r in upstream.requests) == list(range(30))
    assert upstream.most_open == 3
    assert upstream.connections == 3


async def test_tls_is_verified() -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_side)
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    async with server(tls=server_side) as upstream:
        client = HttpUpstream(timeout=5, tls=trusting)
        assert await client.post(upstream.url(scheme="https"), b"{}", {}) == 202
        assert await client.post(upstream.url(scheme="https"), b"{}", {}) == 202
        await client.aclose()
        untrusting = HttpUpstream(timeout=5)  # the system's store does not know this CA
        with pytest.raises(UpstreamError) as raised:
            await untrusting.post(upstream.url(scheme="https"), b"{}", {})
        assert raised.value.reason == "network"
        await untrusting.aclose()
    assert upstream.connections >= 1 and len(upstream.requests) == 2
    assert upstream.requests[0].headers["Host"] == f"127.0.0.1:{upstream.port}"


async def test_aclose_closes_idle_connections() -> None:
    client = HttpUpstream(timeout=5)
    async with server() as upstream:
        assert await client.post(upstream.url(), b"{}", {}) == 202
        assert upstream.open_now == 1
        await client.aclose()
        for _ in range(100):
            if upstream.open_now == 0:
                break
            await asyncio.sleep(0.01)
        assert upstream.open_now == 0
