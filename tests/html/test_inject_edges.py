"""Edges of HTML injection seen through a real uvicorn server: a compressed stream the app
cuts short, and HEAD requests."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import brotli
import httpx
import pytest
import zstandard
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, StreamingResponse
from starlette.routing import Route

from gateway import ConsentMiddleware, Settings
from tests.support.apps import SECRET
from tests.support.servers import running

pytestmark = pytest.mark.slow  # every test runs a real server

HEAD = b"<!doctype html><html><head><title>Streamed</title></head><body>\n"
ROWS = b"".join(b"<p>row %05d of a page the app streams</p>\n" % n for n in range(2000))
SENT = HEAD + ROWS[:-100]  # what the app sends before its stream stops


def compressor(coding: str) -> Callable[[bytes], bytes]:
    """Compresses a piece and flushes it; the stream's end (its trailer) is never written."""
    if coding == "gzip":
        deflate = zlib.compressobj(6, zlib.DEFLATED, 31)
        return lambda data: deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH)
    if coding == "br":
        brotli_stream = brotli.Compressor()
        return lambda data: brotli_stream.process(data) + brotli_stream.flush()
    zstd = zstandard.ZstdCompressor().compressobj()
    return lambda data: zstd.compress(data) + zstd.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)


def decompressed(coding: str, body: bytes) -> tuple[bytes, bool]:
    """What ``body`` decodes to in ``coding``, and whether the stream was complete."""
    if coding == "gzip":
        inflate = zlib.decompressobj(31)
        return inflate.decompress(body), inflate.eof
    if coding == "br":
        brotli_stream = brotli.Decompressor()
        out = [brotli_stream.process(body)]
        while out[-1]:  # it hands out its output a piece at a time
            out.append(brotli_stream.process(b""))
        return b"".join(out), brotli_stream.is_finished()
    zstd = zstandard.ZstdDecompressor().decompressobj()
    return zstd.decompress(body), zstd.eof


def cut_short_app(coding: str) -> Any:
    """An app streaming an HTML page in ``coding`` that ends its body before the stream's
    end, as when its own input was cut off."""

    async def app(scope: Any, receive: Any, send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            return
        piece = compressor(coding)
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-encoding", coding.encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        half = len(ROWS) // 2
        for chunk in (HEAD, ROWS[:half]):
            await send({"type": "http.response.body", "body": piece(chunk), "more_body": True})
        await send({"type": "http.response.body", "body": piece(ROWS[half:-100])})

    return app


def raw_body(app: Any) -> bytes:
    """The body as it came over the wire, not decoded."""
    with running(app) as url, httpx.Client() as client:
        headers = {"accept-encoding": "gzip, br, zstd"}
        with client.stream("GET", url, headers=headers) as response:
            return b"".join(response.iter_raw())


def gateway(app: Any, tmp_path: Path) -> ConsentMiddleware:
    settings = Settings.load(
        environ={}, secret=SECRET, database_url=f"sqlite:///{tmp_path / 'consent.db'}"
    )
    return ConsentMiddleware(app, settings)


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_a_compressed_page_cut_short_reaches_the_client_cut_short(
    coding: str, tmp_path: Path
) -> None:
    app = cut_short_app(coding)
    bare, bare_complete = decompressed(coding, raw_body(app))
    assert (bare, bare_complete) == (SENT, False)  # what a client sees without the gateway
    through, complete = decompressed(coding, raw_body(gateway(app, tmp_path)))
    assert b"/_consent/banner." in through  # the page was rewritten as it streamed
    assert through.endswith(SENT[-200:])  # everything the app sent
    assert not complete  # and the client sees the truncation, as against the bare app


PAGE = (
    "<!doctype html><html><head><title>Shop</title></head><body>"
    + "<p>A product description.</p>" * 40
    + "</body></html>"
)


async def one_piece(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE, headers={"etag": '"v1"', "cache-control": "public, max-age=60"})


async def streamed(request: Request) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        for piece in (PAGE[:100], PAGE[100:]):
            yield piece.encode()

    return StreamingResponse(body(), media_type="text/html")


async def as_file(request: Request) -> FileResponse:
    path = Path(request.app.state.directory) / "page.html"
    path.write_text(PAGE)
    return FileResponse(path, media_type="text/html")


def pages_app(directory: Path) -> Starlette:
    app = Starlette(
        routes=[Route("/", one_piece), Route("/streamed", streamed), Route("/file", as_file)]
    )
    app.state.directory = str(directory)
    return app


def compared(headers: httpx.Headers) -> dict[str, str]:
    """The headers as the gateway and the app chose them (the server adds the date, and
    frames a streamed GET with chunks)."""
    return {k: v for k, v in headers.items() if k not in ("date", "transfer-encoding")}


@pytest.mark.parametrize("path", ["/", "/streamed"])
def test_head_of_a_page_gets_the_headers_get_gets(path: str, tmp_path: Path) -> None:
    with running(gateway(pages_app(tmp_path), tmp_path)) as url, httpx.Client() as client:
        got = client.get(url + path)
        head = client.head(url + path)
    assert b"/_consent/banner." in got.content  # the page gets the banner
    assert head.content == b""
    assert compared(head.headers) == compared(got.headers)
    assert "private" in head.headers["cache-control"]
    assert "etag" not in head.headers


def test_head_answered_without_a_body_gets_no_length_it_cannot_know(tmp_path: Path) -> None:
    # FileResponse answers HEAD with the file's Content-Length and no body: the length of
    # the page with the banner is unknown, and a wrong one is worse than none.
    with running(gateway(pages_app(tmp_path), tmp_path)) as url, httpx.Client() as client:
        head = client.head(url + "/file")
    assert head.status_code == 200
    assert head.headers.get("content-length") != str(len(PAGE))
    assert head.headers["cache-control"] == "private"
    assert "cookie" in head.headers["vary"].lower()
    assert "etag" not in head.headers and "last-modified" not in head.headers
