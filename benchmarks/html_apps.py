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
import random
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

PAGE_SIZE = 50 * 1024
DISTINCT_PAGES = 1500  # more than the page memo holds (16 MB / 26 KB an entry)

_WORDS = (  # noqa: SIM905 - prose reads better than 170 quoted words
    "the of and to in a is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there one all we their can has more been if "
    "would when will who so no out up into do time about than only its other some could "
    "new them these two may first then any like now my such our over man me even most made "
    "after also did many before must through back years where much your way well down "
    "should because each just those people how too little state good very make world still "
    "own see men work long get here between both life being under never day same another "
    "know while last might us great old year off come since against go came right used "
    "take three garden kettle shipping returns warranty stainless ceramic handmade walnut "
    "linen delivery basket checkout review rating colour size stock order account wishlist"
).split()


_ZIPF = list(itertools.accumulate(1 / rank for rank in range(1, len(_WORDS) + 1)))


def _text(rng: random.Random, words: int) -> str:
    # Zipf's law: the word of rank r comes with weight 1/r, as in real prose.
    sentence = " ".join(rng.choices(_WORDS, cum_weights=_ZIPF, k=words))
    return sentence[:1].upper() + sentence[1:] + "."


def page(token: str = "0" * 32, seed: int = 2026) -> bytes:
    """A shop's product listing: head with metas, preloads, inline CSS, JSON-LD and an
    analytics snippet; navigation, product cards, an article, a table, a footer."""
    rng = random.Random(seed)
    css = "\n".join(
        f".c{i} {{ margin: {rng.randint(0, 24)}px; color: #{rng.randrange(0xFFFFFF):06x}; "
        f"display: {rng.choice(['flex', 'grid', 'block'])}; }}"
        for i in range(60)
    )
    head = (
        f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kitchen &amp; Garden · Handmade Shop</title>
<meta name="description" content="{_text(rng, 24)}">
<link rel="preconnect" href="https://cdn.shop.example">
<link rel="stylesheet" href="/static/app.3f9c2e.css">
<link rel="icon" href="/favicon.ico">
<style>
{css}
</style>
<script type="application/ld+json">{{"@context":"https://schema.org","@type":"Store",
"name":"Kitchen &amp; Garden","url":"https://shop.example/"}}</script>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-BENCH1234"></script>
<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments);}}
gtag('js',new Date());gtag('config','G-BENCH1234');</script>
</head>
<body class="c1">
<header class="site"><nav><ul>
"""
        + "".join(
            f'<li><a href="/c/{w}">{w.title()}</a></li>\n' for w in rng.sample(_WORDS[-22:], 12)
        )
        + "</ul></nav></header>\n<main>\n"
    )
    parts = [head]
    size = len(head)
    item = 0
    tail = f"""</main>
<form method="post" action="/newsletter"><input type="hidden" name="csrf" value="{token}">
<input type="email" name="email" placeholder="you@example.com"><button>Subscribe</button></form>
<footer class="c2"><p>{{}}</p><p>&copy; 2026 Kitchen &amp; Garden</p></footer>
<script src="/static/app.3f9c2e.js" defer></script>
</body>
</html>
"""
    while size < PAGE_SIZE - len(tail) - 600:
        kind = rng.random()
        item += 1
        if kind < 0.5:
            price = rng.randint(5, 400) + rng.choice([0.0, 0.5, 0.99])
            block = (
                f'<article class="card c{rng.randint(3, 59)}" '
                f'data-sku="SKU-{rng.randint(1, 99999):05d}">'
                f'<a href="/p/{item}-{rng.choice(_WORDS[-22:])}">'
                f'<img src="https://cdn.shop.example/img/{rng.getrandbits(40):010x}.webp" '
                f'alt="{_text(rng, 5)}" width="320" height="240" loading="lazy"></a>'
                f"<h3>{_text(rng, rng.randint(3, 7))}</h3>"
                f'<p class="price">€{price:.2f}</p><p>{_text(rng, rng.randint(12, 40))}</p>'
                f'<button class="add" data-id="{item}">Add to basket</button></article>\n'
            )
        elif kind < 0.8:
            block = (
                f"<section><h2>{_text(rng, rng.randint(2, 6))}</h2>"
                + "".join(f"<p>{_text(rng, rng.randint(20, 70))}</p>" for _ in range(2))
                + "</section>\n"
            )
        else:
            rows = "".join(
                f"<tr><td>{rng.choice(_WORDS)}</td><td>{rng.randint(1, 500)} g</td>"
                f"<td>{rng.randint(1, 99)}%</td></tr>"
                for _ in range(rng.randint(3, 8))
            )
            block = f'<table class="specs"><tbody>{rows}</tbody></table>\n'
        parts.append(block)
        size += len(block)
    parts.append(tail.replace("{}", _text(rng, 30)))
    return "".join(parts).encode()


PAGE = page()
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
