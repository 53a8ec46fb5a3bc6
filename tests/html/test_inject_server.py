"""HTML injection through a real uvicorn server and a real HTTP client."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from gateway import ConsentMiddleware, Settings
from tests.support.apps import SECRET
from tests.support.servers import running

pytestmark = pytest.mark.slow  # every test runs a real server, one streams 50 MB

ROWS = 50 * 1024 * 1024  # bytes of table rows in the big page
ROW = b'<tr><td class="n">%07d</td><td><a href="/item/%07d">item %07d</a></td></tr>\n'
HEAD = b"<!doctype html><html><head><meta charset=utf-8><title>big</title></head><body><table>\n"


def big_page() -> Iterator[bytes]:
    """A 50 MB page in 64 KB chunks, every row distinct."""
    yield HEAD
    chunk: list[bytes] = []
    size = number = 0
    while size < ROWS:
        row = ROW % (number, number, number)
        chunk.append(row)
        size += len(row)
        number += 1
        if len(chunk) == 800:
            yield b"".join(chunk)
            chunk = []
    yield b"".join(chunk) + b"</table></body></html>"


def expected_digest() -> tuple[str, int]:
    digest = hashlib.sha256()
    length = 0
    for chunk in big_page():
        digest.update(chunk)
        length += len(chunk)
    return digest.hexdigest(), length


async def streamed(request: Request) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        for chunk in big_page():
            yield chunk

    return StreamingResponse(body(), media_type="text/html")


async def gzip_streamed(request: Request) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        deflate = zlib.compressobj(1, zlib.DEFLATED, 31)
        for chunk in big_page():
            yield deflate.compress(chunk) + deflate.flush(zlib.Z_SYNC_FLUSH)
        yield deflate.flush()

    return StreamingResponse(body(), media_type="text/html", headers={"content-encoding": "gzip"})


async def shop(request: Request) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><title>Shop</title></head><body>"
        + "<p>A product description that is long enough to be compressed.</p>" * 50
        + "</body></html>"
    )


def app() -> Starlette:
    return Starlette(
        routes=[
            Route("/big", streamed),
            Route("/big.gz", gzip_streamed),
            Route("/shop", shop),
        ]
    )


def gateway(tmp_path: Path, inner: ASGIApp) -> ConsentMiddleware:
    settings = Settings.load(
        environ={}, secret=SECRET, database_url=f"sqlite:///{tmp_path / 'consent.db'}"
    )
    return ConsentMiddleware(inner, settings)


def test_a_50_mb_streamed_page_arrives_whole_with_the_banner(tmp_path: Path) -> None:
    """Identity and gzip: every byte of the app's 50 MB arrives, in order, plus the banner's
    tags after <meta charset>; no Content-Length, since the body streamed."""
    digest, length = expected_digest()
    site = gateway(tmp_path, app())
    script = site.gateway.banner.url("banner.js").encode()

    def without_tags(prefix: bytes) -> bytes:
        start = prefix.index(b'<link rel="stylesheet"')
        end = prefix.index(b"</script>", start) + len(b"</script>")
        assert start == HEAD.index(b"<title>") and script in prefix[start:end]
        prefix = prefix[:start] + prefix[end:]
        # The no-script form, right after <body ...>.
        body = prefix.index(b">", prefix.index(b"<body")) + 1
        form_end = prefix.index(b"</noscript>", body) + len(b"</noscript>")
        assert prefix.startswith(b"<noscript", body)
        assert b'action="/_consent/state"' in prefix[body:form_end]
        return prefix[:body] + prefix[form_end:]

    for path in ("/big", "/big.gz"):
        with running(site) as url, httpx.stream("GET", url + path, timeout=120) as response:
            assert response.status_code == 200
            assert "content-length" not in response.headers
            received = hashlib.sha256()
            size = 0
            prefix: bytes | None = b""
            for chunk in response.iter_bytes():
                if prefix is not None:
                    prefix += chunk
                    if len(prefix) < 8192:
                        continue
                    chunk, prefix = without_tags(prefix), None
                received.update(chunk)
                size += len(chunk)
        assert prefix is None
        assert (received.hexdigest(), size) == (digest, length), path


def test_starlettes_gzip_behind_the_gateway(tmp_path: Path) -> None:
    """The app compresses (Starlette's GZipMiddleware); the gateway decodes, inserts the
    banner and compresses again; the client decodes a valid gzip stream."""
    site = gateway(tmp_path, GZipMiddleware(app(), minimum_size=100))
    with running(site) as url:
        response = httpx.get(url + "/shop", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"].lower().replace(" ", "") == "accept-encoding,cookie"
    assert response.text.startswith('<!doctype html><html><head><link rel="stylesheet"')
    assert response.text.endswith("</body></html>")


def test_starlettes_gzip_in_front_of_the_gateway(tmp_path: Path) -> None:
    site = GZipMiddleware(gateway(tmp_path, app()), minimum_size=100)
    with running(site) as url:
        response = httpx.get(url + "/shop", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert '<script src="/_consent/banner.' in response.text
