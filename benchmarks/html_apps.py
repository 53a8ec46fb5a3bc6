"""The apps ``bench_html.py`` serves: a realistic 50 KB HTML page, gzip-encoded by the app.

Targets for uvicorn (``benchmarks.html_apps:<name>``):
  bare                 the page, gzip-encoded by the app (new bytes per response, as a renderer
                       or an upstream produces them)
  gateway              the same behind ConsentMiddleware (banner injection on)
  gateway_no_injection the same with injection off (the cookie work alone, for scale)
  bare_distinct        one of 1,500 pages that differ by a per-page token, in turn, so no two
                       requests in a row carry the same bytes
  gateway_distinct     the same behind ConsentMiddleware (the page memo cannot help)
  bare_identity        the page uncompressed
  starlette_gzip       the uncompressed page behind Starlette's GZipMiddleware
  big_bare, big_gateway
                       a 50 MB page streamed in 64 KB chunks (/ identity, /gzip), for memory
"""

from __future__ import annotations

import gzip
import itertools
import os
import tempfile
import zlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from benchmarks.apps import SECRET
from gateway import ConsentMiddleware, Settings
from tests.support.shop_page import PAGE, page

DISTINCT_PAGES = 1500  # more than the page memo holds (16 MB / 26 KB an entry)

PAGE_GZIP = gzip.compress(PAGE, compresslevel=6, mtime=0)


async def _page_gzip(request: Request) -> Response:
    # bytes(...) copies: a renderer or an upstream produces new bytes for every response.
    return Response(
        bytes(bytearray(PAGE_GZIP)),
        media_type="text/html",
        headers={"content-encoding": "gzip", "vary": "Accept-Encoding"},
    )


_DISTINCT: list[bytes] = []
_NEXT = itertools.cycle(range(DISTINCT_PAGES))


def distinct_pages() -> list[bytes]:
    """The distinct pages, each with its own token (built on first use: a few seconds)."""
    if not _DISTINCT:
        template = page(token="{token}")
        _DISTINCT.extend(
            gzip.compress(template.replace(b"{token}", b"%032x" % n), compresslevel=6, mtime=0)
            for n in range(DISTINCT_PAGES)
        )
    return _DISTINCT


async def _distinct_gzip(request: Request) -> Response:
    return Response(
        bytes(bytearray(distinct_pages()[next(_NEXT)])),
        media_type="text/html",
        headers={"content-encoding": "gzip", "vary": "Accept-Encoding"},
    )


async def _page_identity(request: Request) -> Response:
    return Response(bytes(bytearray(PAGE)), media_type="text/html")


def _settings() -> Settings:
    path = os.path.join(tempfile.gettempdir(), "bench-html-consent.sqlite3")
    return Settings.load(environ={}, secret=SECRET, database_url=f"sqlite:///{path}")


bare = Starlette(routes=[Route("/", _page_gzip)])
gateway = ConsentMiddleware(Starlette(routes=[Route("/", _page_gzip)]), _settings())
gateway_no_injection = ConsentMiddleware(
    Starlette(routes=[Route("/", _page_gzip)]),
    Settings.load(
        environ={},
        **{**_settings().model_dump(), "inject_banner": False, "block_trackers": "never"},
    ),
)
bare_distinct = Starlette(routes=[Route("/", _distinct_gzip)])
gateway_distinct = ConsentMiddleware(Starlette(routes=[Route("/", _distinct_gzip)]), _settings())
bare_identity = Starlette(routes=[Route("/", _page_identity)])
starlette_gzip = GZipMiddleware(Starlette(routes=[Route("/", _page_identity)]))

BIG_SIZE = 50 * 1024 * 1024
_ROW = (
    '<tr><td class="n">%07d</td><td><a href="/item/%07d">Item %07d</a></td><td>€%d.%02d</td></tr>\n'
)


async def big_chunks() -> AsyncIterator[bytes]:
    """A 50 MB page in 64 KB chunks, made as it is sent (the app itself holds little)."""
    yield b"<!doctype html><html><head><meta charset=utf-8><title>Big</title></head><body><table>"
    sent = number = 0
    while sent < BIG_SIZE:
        rows = []
        size = 0
        while size < 64 * 1024:
            row = _ROW % (number, number, number, number % 500, number % 100)
            rows.append(row)
            size += len(row)
            number += 1
        chunk = "".join(rows).encode()
        sent += len(chunk)
        yield chunk
    yield b"</table></body></html>"


async def _big(request: Request) -> StreamingResponse:
    return StreamingResponse(big_chunks(), media_type="text/html")


async def _big_gzip(request: Request) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        deflate = zlib.compressobj(6, zlib.DEFLATED, 31)
        async for chunk in big_chunks():
            yield deflate.compress(chunk) + deflate.flush(zlib.Z_SYNC_FLUSH)
        yield deflate.flush()

    return StreamingResponse(body(), media_type="text/html", headers={"content-encoding": "gzip"})


async def _small(request: Request) -> Response:
    return Response(b"<!doctype html><title>warm</title><p>up", media_type="text/html")


_BIG_ROUTES = [Route("/", _big), Route("/gzip", _big_gzip), Route("/small", _small)]
big_bare = Starlette(routes=_BIG_ROUTES)
big_gateway = ConsentMiddleware(Starlette(routes=_BIG_ROUTES), _settings())
