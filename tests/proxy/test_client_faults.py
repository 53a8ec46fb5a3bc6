"""What the gateway does when clients misbehave: 500 clients trickling their headers a byte
at a time do not stop it answering others, and a request framed two ways at once
(``Content-Length`` with ``Transfer-Encoding``, or two lengths) never reaches the upstream
as two requests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.support.upstreams import RawUpstream, serve

pytestmark = pytest.mark.slow  # the gateway in a process of its own, real upstreams

SLOW_CLIENTS = 500


@pytest.fixture(scope="module")
def raw() -> Iterator[RawUpstream]:
    with RawUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway(raw: RawUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("gw"), f"http://127.0.0.1:{raw.port}") as up:
        yield up[0]


async def test_500_clients_trickling_headers_do_not_stop_the_others(gateway: str) -> None:
    port = int(gateway.rsplit(":", 1)[1])
    trickling = asyncio.Event()
    stop = asyncio.Event()

    async def slow_client() -> bytes:
        """A client sending its head a byte every 300 ms, then the end of it: the status
        line of its answer."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET /ok HTTP/1.1\r\nHost: a\r\nX-Slow: ")
            while not stop.is_set():
                writer.write(b"a")
                await writer.drain()
                trickling.set()
                await asyncio.sleep(0.3)
            writer.write(b"\r\n\r\n")
            return (await reader.readline()).strip()
        except ConnectionError as error:
            return repr(error).encode()
        finally:
            writer.close()

    clients = [asyncio.create_task(slow_client()) for _ in range(SLOW_CLIENTS)]
    try:
        await trickling.wait()
        await asyncio.sleep(2)  # every slow client connected and trickling
        async with httpx.AsyncClient(timeout=5) as client:  # a liveness check, not a benchmark
            for _ in range(20):
                response = await client.get(gateway + "/ok")
                assert response.text == "ok"
    finally:
        stop.set()
        answers = await asyncio.gather(*clients)
    assert set(answers) == {b"HTTP/1.1 200 OK"}  # served too, just slowly: none cut off


SMUGGLED = b"GET /smuggled-request HTTP/1.1\r\nHost: a\r\n\r\n"
ATTEMPTS = {
    "length and chunked": b"POST /ok HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % (5 + len(SMUGGLED)) + SMUGGLED,
    "chunked and length": b"POST /ok HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 4\r\n\r\n0\r\n\r\n" + SMUGGLED,
    "two lengths": b"POST /ok HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
    b"Content-Length: %d\r\n\r\n" % len(SMUGGLED) + SMUGGLED,
    "chunked, disguised": b"POST /ok HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n"
    b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" % (5 + len(SMUGGLED)) + SMUGGLED,
    "space before the colon": b"POST /ok HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n"
    b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" % (5 + len(SMUGGLED)) + SMUGGLED,
}


@pytest.mark.parametrize("attempt", ATTEMPTS.values(), ids=ATTEMPTS.keys())
def test_a_request_framed_two_ways_never_reaches_the_upstream_as_two(
    gateway: str, raw: RawUpstream, attempt: bytes
) -> None:
    port = int(gateway.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(attempt)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while data := sock.recv(65536):
            received += data
    # llhttp, uvicorn's parser, refuses each: one answer, a 400, and the connection closed.
    assert received.startswith(b"HTTP/1.1 400 ")
    assert received.count(b"HTTP/1.1 ") == 1
    assert not any(b"/smuggled-request" in head for head in raw.requests)
    assert httpx.get(gateway + "/ok").text == "ok"
