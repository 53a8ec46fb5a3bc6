"""HTML responses through ConsentMiddleware: the banner's tags, headers, encodings, bad input."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import re
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable
from datetime import UTC
from typing import Any

import brotli
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import ConsentMiddleware, Settings
from gateway.consent.state import Category, ConsentState, Regime, Source
from gateway.html.banner import Snippet
from gateway.html.content_coding import DecodeError, decode_all, decoder, encode_all
from gateway.html.inject import visible
from tests.support.apps import ORIGIN_HEADERS, SECRET, Gateway, client_for
from tests.support.html_docs import CUTS, DOCUMENTS, TRACKERS, HostRules, split


@pytest.fixture
def make_gateway(settings: Settings) -> Gateway:
    """A gateway around ``app``; ``trackers`` is the hook, the rest are settings. Without a
    hook, tracker neutralisation is off, so the tests here see the banner's tags alone."""

    def make(app: Any, trackers: HostRules | None = None, **options: Any) -> ConsentMiddleware:
        if trackers is None:
            options.setdefault("block_trackers", "never")
        chosen = Settings.load(environ={}, **{**settings.model_dump(), **options})
        return ConsentMiddleware(app, chosen, trackers=trackers)

    return make


PAGE = (
    b"<!doctype html><html lang=en><head><meta charset=utf-8><title>Shop</title>"
    b"<script async src='https://www.googletagmanager.com/gtag/js?id=G-1'></script>"
    b"</head><body><h1>Hello</h1><p>Welcome.</p></body></html>"
)


def encode(coding: str, data: bytes) -> bytes:
    """``data`` compressed as an app or its server would send it."""
    if coding == "gzip":
        return gzip.compress(data)
    if coding == "deflate":
        return zlib.compress(data)
    if coding == "deflate-raw":
        raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        return raw.compress(data) + raw.flush()
    if coding == "br":
        return bytes(brotli.compress(data))
    if coding == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def stream_encode(coding: str, data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` compressed chunk by chunk, each chunk flushed, as a streaming app sends it."""
    pieces = split(data, cuts)
    if coding == "":
        return pieces
    if coding == "br":
        compressor = brotli.Compressor()
        chunks = [compressor.process(p) + compressor.flush() for p in pieces]
        return [*chunks, compressor.finish()]
    if coding == "zstd":
        zobj = zstandard.ZstdCompressor().compressobj()
        chunks = [zobj.compress(p) + zobj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK) for p in pieces]
        return [*chunks, zobj.flush()]
    wbits = {"gzip": 31, "deflate": 15, "deflate-raw": -15}[coding]
    deflate = zlib.compressobj(6, zlib.DEFLATED, wbits)
    chunks = [deflate.compress(p) + deflate.flush(zlib.Z_SYNC_FLUSH) for p in pieces]
    return [*chunks, deflate.flush()]


class Recorder:
    """A raw ASGI call: the messages the gateway sent, and the state the app saw."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.state: ConsentState | None = None

    @property
    def start(self) -> dict[str, Any]:
        return self.sent[0]

    @property
    def headers(self) -> dict[bytes, bytes]:
        return {name.lower(): value for name, value in self.start["headers"]}

    @property
    def raw_body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    def body(self) -> bytes:
        coding = self.headers.get(b"content-encoding", b"").decode()
        return decode_all(coding, self.raw_body)


def page_app(
    chunks: list[bytes],
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    status: int = 200,
    recorder: Recorder | None = None,
    between: Callable[[int], Any] | None = None,
) -> Any:
    """An app that sends ``chunks`` as body messages (all but the last with more_body)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if recorder is not None:
            recorder.state = scope["state"]["consent"]
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": headers or [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": not last})
            if between is not None and not last:
                await between(index)

    return app


def html_headers(coding: str = "", *extra: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", b"text/html; charset=utf-8")]
    if coding:
        headers.append(
            (b"content-encoding", b"deflate" if coding == "deflate-raw" else coding.encode())
        )
    return headers + list(extra)


async def call(
    gateway: ConsentMiddleware,
    recorder: Recorder,
    *,
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    extensions: dict[str, Any] | None = None,
) -> Recorder:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "extensions": extensions or {},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        recorder.sent.append(message)

    await gateway(scope, receive, send)
    return recorder


def snippet_of(
    gateway: ConsentMiddleware, state: ConsentState | None, nonce: str | None = None
) -> bytes:
    """The head tags the visitor in ``state`` gets."""
    return tags_of(gateway, state, nonce).head


def tags_of(
    gateway: ConsentMiddleware, state: ConsentState | None, nonce: str | None = None
) -> Snippet:
    assert state is not None
    return gateway.gateway.banner.snippet(state, nonce)


_BODY_TAG = re.compile(rb"<body[^>]*>", re.IGNORECASE)


def with_tags(page: bytes, tags: Snippet, after: bytes = b"<head>") -> bytes:
    """``page`` with the head tags after ``after`` and the body tags (the no-script form)
    after its ``<body ...>`` tag, where the gateway puts them."""
    page = page.replace(after, after + tags.head, 1)
    body = _BODY_TAG.search(page)
    if body is None or not tags.body:
        return page
    return page[: body.end()] + tags.body + page[body.end() :]


def without_tags(page: bytes, tags: Snippet) -> bytes:
    """``page`` with the banner's tags taken out once each."""
    page = page.replace(tags.head, b"", 1)
    return page.replace(tags.body, b"", 1) if tags.body else page


def metric(gateway: ConsentMiddleware, name: str, **labels: str) -> float:
    value = gateway.gateway.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def serve(
    gateway_factory: Gateway,
    chunks: list[bytes],
    headers: list[tuple[bytes, bytes]] | None = None,
    **options: Any,
) -> tuple[ConsentMiddleware, Recorder]:
    recorder = Recorder()
    gateway = gateway_factory(page_app(chunks, headers, recorder=recorder), **options)
    await call(gateway, recorder)
    return gateway, recorder


async def test_the_banner_goes_right_after_head_with_headers_fixed(make_gateway: Gateway) -> None:
    headers = html_headers(
        "",
        (b"content-length", str(len(PAGE)).encode()),
        (b"etag", b'"v1"'),
        (b"last-modified", b"Tue, 01 Dec 2026 10:00:00 GMT"),
        (b"vary", b"Accept-Encoding"),
        (b"cache-control", b"no-cache"),
    )
    gateway, page = await serve(make_gateway, [PAGE], headers)
    tags = tags_of(gateway, page.state)
    assert page.body() == with_tags(PAGE, tags, after=b"<meta charset=utf-8>")
    assert page.headers[b"content-length"] == str(len(PAGE) + len(tags.head + tags.body)).encode()
    assert b"etag" not in page.headers and b"last-modified" not in page.headers
    assert page.headers[b"vary"] == b"Accept-Encoding, Cookie"
    assert page.headers[b"cache-control"] == b"no-cache"
    assert metric(gateway, "consent_gateway_pages_injected_total") == 1


@pytest.mark.parametrize(
    ("app_says", "sent"),
    [
        ([], [b"private"]),
        ([b"public, max-age=600, s-maxage=3600"], [b"private, max-age=600"]),
        ([b"max-age=60", b"public"], [b"private, max-age=60"]),
        ([b"S-MaxAge=60, must-revalidate"], [b"private, must-revalidate"]),
        ([b"private, max-age=60"], [b"private, max-age=60"]),
        ([b"no-store"], [b"no-store"]),
        ([b"public, no-cache"], [b"public, no-cache"]),
        ([b'no-cache="set-cookie", max-age=60'], [b'private, no-cache="set-cookie", max-age=60']),
    ],
)
async def test_a_rewritten_page_is_kept_out_of_shared_caches(
    make_gateway: Gateway, app_says: list[bytes], sent: list[bytes]
) -> None:
    """Some CDNs ignore ``Vary: Cookie``: one visitor's variant must not reach another."""
    headers = html_headers("", *((b"cache-control", value) for value in app_says))
    _, page = await serve(make_gateway, [PAGE], headers)
    assert b"/_consent/banner." in page.body()
    assert [value for name, value in page.start["headers"] if name == b"cache-control"] == sent


async def test_other_responses_pass_untouched(make_gateway: Gateway) -> None:
    json = [(b"content-type", b"application/json"), (b"etag", b'"j"')]
    for headers, status, method in [
        (json, 200, "GET"),
        (html_headers(), 404, "GET"),
        (html_headers(), 500, "GET"),
        (html_headers("", (b"content-range", b"bytes 0-9/99")), 200, "GET"),
        (html_headers("", (b"content-disposition", b'attachment; filename="a.html"')), 200, "GET"),
        ([(b"content-type", b"text/htmlx")], 200, "GET"),
    ]:
        recorder = Recorder()
        app = page_app([PAGE], headers, status=status, recorder=recorder)
        await call(make_gateway(app), recorder, method=method)
        assert recorder.raw_body == PAGE, (headers, status, method)
        assert recorder.start["headers"] == headers


async def test_inject_banner_false_turns_it_off(make_gateway: Gateway) -> None:
    _, page = await serve(make_gateway, [PAGE], inject_banner=False, block_trackers="never")
    assert page.raw_body == PAGE


async def test_an_inline_disposition_is_still_a_page(make_gateway: Gateway) -> None:
    headers = html_headers("", (b"content-disposition", b"inline"))
    gateway, page = await serve(make_gateway, [PAGE], headers)
    assert snippet_of(gateway, page.state) in page.body()


@pytest.mark.parametrize("coding", ["gzip", "deflate", "deflate-raw", "br", "zstd"])
async def test_compressed_pages_are_decoded_rewritten_and_re_encoded(
    make_gateway: Gateway, coding: str
) -> None:
    gateway, page = await serve(make_gateway, [encode(coding, PAGE)], html_headers(coding))
    tags = tags_of(gateway, page.state)
    assert page.headers[b"content-encoding"] == (
        b"deflate" if coding == "deflate-raw" else coding.encode()
    )
    assert page.body() == with_tags(PAGE, tags, after=b"<meta charset=utf-8>")
    assert page.headers[b"content-length"] == str(len(page.raw_body)).encode()
    if coding == "deflate-raw":  # written back the way it came
        assert without_tags(zlib.decompress(page.raw_body, -zlib.MAX_WBITS), tags) == PAGE


@pytest.mark.parametrize("coding", [b"compress", b"gzip, br", b"exi"])
async def test_unknown_encodings_pass_untouched_and_are_counted(
    make_gateway: Gateway, coding: bytes
) -> None:
    body = b"\x1f\x9d opaque"
    headers = [(b"content-type", b"text/html"), (b"content-encoding", coding)]
    gateway = make_gateway(page_app([body], headers))
    for _ in range(2):
        page = await call(gateway, Recorder())
        assert page.raw_body == body and page.start["headers"] == headers
    assert metric(gateway, "consent_gateway_pages_skipped_total", reason="encoding") == 2


async def test_a_truncated_gzip_body_passes_untouched(make_gateway: Gateway) -> None:
    body = gzip.compress(PAGE * 20)[:-40]
    headers = html_headers("gzip", (b"content-length", str(len(body)).encode()))
    gateway, page = await serve(make_gateway, [body], headers)
    assert page.raw_body == body and page.start["headers"] == headers
    assert metric(gateway, "consent_gateway_pages_skipped_total", reason="decode_error") == 1


async def test_a_corrupt_stream_before_the_insertion_point_passes_untouched(
    make_gateway: Gateway,
) -> None:
    chunks = [b"\x1f\x8b\x08\x00garbage-not-deflate", b"more"]
    _, page = await serve(make_gateway, chunks, html_headers("gzip"))
    assert [m.get("body") for m in page.sent[1:]] == chunks
    assert page.start["headers"] == html_headers("gzip")


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
async def test_a_stream_cut_short_after_the_banner_ends_cut_short(
    make_gateway: Gateway, coding: str
) -> None:
    """The first chunks went out rewritten; then the app's stream breaks. The response ends
    there, with what was valid (never garbage) but not as a complete stream: the client
    sees the break, as it would without the gateway."""
    first = b"<!doctype html><html><head><title>t</title></head><body>" + b"<p>row</p>" * 300
    chunks = stream_encode(coding, first + b"<p>never</p>" * 300, [len(first)])
    broken = [chunks[0], b"\xff" * 100, b"tail"]
    gateway, page = await serve(make_gateway, broken, html_headers(coding))
    decoding = decoder(coding)
    decoded = b"".join(decoding.decode(page.raw_body))
    assert decoded == with_tags(first, tags_of(gateway, page.state))
    with pytest.raises(DecodeError):
        decoding.finish()
    assert page.sent[-1]["more_body"] is False
    assert b"tail" not in page.raw_body
    assert metric(gateway, "consent_gateway_pages_skipped_total", reason="decode_error") == 1


async def test_an_empty_body_stays_empty(make_gateway: Gateway) -> None:
    for chunks in ([b""], [b"", b""]):
        _, page = await serve(make_gateway, chunks)
        assert page.raw_body == b"" and page.sent[-1].get("more_body", False) is False


async def test_a_streamed_page_flows_once_the_insertion_point_has_passed(
    make_gateway: Gateway,
) -> None:
    """The gateway sends the rewritten head before the app has produced the rest."""
    seen_before_second: list[int] = []
    recorder = Recorder()

    async def between(index: int) -> None:
        seen_before_second.append(len(recorder.sent))

    chunks = [b"<!doctype html><html><head><title>x", b"</title></head><body>", b"<p>end"]
    headers = html_headers("", (b"content-length", b"99"))
    gateway = make_gateway(page_app(chunks, headers, recorder=recorder, between=between))
    await call(gateway, recorder)
    assert seen_before_second == [2, 3]  # start + first chunk, then the second chunk
    assert b"content-length" not in recorder.headers
    assert recorder.body() == with_tags(b"".join(chunks), tags_of(gateway, recorder.state))


async def test_a_head_split_across_chunks_is_found(make_gateway: Gateway) -> None:
    chunks = [b"<!doctype html><html><he", b"ad><title>x</title></head>"]
    gateway, page = await serve(make_gateway, chunks)
    assert page.body() == b"<!doctype html><html><head>" + snippet_of(gateway, page.state) + (
        b"<title>x</title></head>"
    )


async def test_past_the_lookahead_the_page_passes_untouched_with_its_headers(
    make_gateway: Gateway,
) -> None:
    chunks = [b"<!--" + b"x" * 40_000, b"y" * 40_000 + b"--><head>", b"<p>end"]
    headers = html_headers("", (b"etag", b'"strong"'))
    gateway, page = await serve(make_gateway, chunks, headers, block_trackers="never")
    assert page.start["headers"] == headers
    assert page.raw_body == b"".join(chunks)
    assert metric(gateway, "consent_gateway_pages_skipped_total", reason="lookahead") == 1


@pytest.mark.parametrize(
    "chunks",
    [
        [gzip.compress(PAGE * 20)[:-40]],  # one message: a truncated stream
        [b"\x1f\x8b\x08\x00garbage-not-deflate", b"more"],  # several: corrupt from the start
    ],
)
async def test_a_page_sent_as_it_is_still_loses_refused_set_cookie_lines(
    make_gateway: Gateway, chunks: list[bytes]
) -> None:
    """Held pages are passed on with the enforced headers, not with the app's."""
    headers = html_headers(
        "gzip", (b"set-cookie", b"_ga=GA1.1.1.1; Path=/"), (b"set-cookie", b"csrftoken=x")
    )
    _, page = await serve(make_gateway, chunks, headers)
    assert page.raw_body == b"".join(chunks)
    cookies = [value for name, value in page.start["headers"] if name == b"set-cookie"]
    assert cookies == [b"csrftoken=x"]


async def test_a_small_page_in_several_chunks_gets_a_content_length(make_gateway: Gateway) -> None:
    chunks = [b"<p>a fragment", b" in two chunks</p>"]  # insertion point: the very end
    gateway, page = await serve(make_gateway, chunks)
    tags = snippet_of(gateway, page.state)
    assert page.body() == b"".join(chunks) + tags
    assert page.headers[b"content-length"] == str(len(page.raw_body)).encode()


async def test_the_pages_csp_nonce_goes_on_the_banner_script(make_gateway: Gateway) -> None:
    csp = (b"content-security-policy", b"script-src 'nonce-abc123' 'strict-dynamic'")
    gateway, page = await serve(make_gateway, [PAGE], html_headers("", csp))
    assert snippet_of(gateway, page.state, "abc123") in page.body()
    assert b'nonce="abc123"' in page.body()


async def test_the_apps_nonce_from_scope_state_is_used(make_gateway: Gateway) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["state"]["csp_nonce"] = "fromtheapp"
        await page_app([PAGE])(scope, receive, send)

    recorder = await call(make_gateway(app), Recorder())
    assert b'nonce="fromtheapp"' in recorder.body()


async def test_a_csp_that_would_block_the_banner_skips_it(make_gateway: Gateway) -> None:
    csp = (b"content-security-policy", b"default-src 'self'; script-src https://cdn.example.net")
    headers = html_headers("", csp)
    gateway, page = await serve(make_gateway, [PAGE], headers, block_trackers="never")
    assert page.raw_body == PAGE and page.start["headers"] == headers
    assert metric(gateway, "consent_gateway_pages_skipped_total", reason="csp") == 1


async def test_a_report_only_policy_does_not_block(make_gateway: Gateway) -> None:
    csp = (b"content-security-policy-report-only", b"script-src 'none'")
    gateway, page = await serve(make_gateway, [PAGE], html_headers("", csp))
    assert snippet_of(gateway, page.state) in page.body()


async def test_fetch_requests_get_no_banner(make_gateway: Gateway) -> None:
    recorder = Recorder()
    gateway = make_gateway(page_app([PAGE], recorder=recorder), block_trackers="never")
    await call(gateway, recorder, headers=[(b"sec-fetch-dest", b"empty")])
    assert recorder.raw_body == PAGE
    assert metric(gateway, "consent_gateway_pages_skipped_total", reason="not_document") == 1
    navigation = Recorder()
    gateway = make_gateway(page_app([PAGE], recorder=navigation))
    await call(gateway, navigation, headers=[(b"sec-fetch-dest", b"document")])
    assert snippet_of(gateway, navigation.state) in navigation.body()


async def test_remembered_decisions_follow_the_request_and_the_headers(
    make_gateway: Gateway,
) -> None:
    """One gateway, the same page: what each response gets still depends on its request
    (a fetch, a navigation), its headers (a nonce per response) and counts per response."""
    nonces = iter(["n1", "n2", "n3", "n1"])

    async def app(scope: Any, receive: Any, send: Any) -> None:
        csp = b"script-src 'nonce-" + next(nonces).encode() + b"' 'strict-dynamic'"
        await page_app([PAGE], html_headers("", (b"content-security-policy", csp)))(
            scope, receive, send
        )

    gateway = make_gateway(app, block_trackers="never")
    fetch = await call(gateway, Recorder(), headers=[(b"sec-fetch-dest", b"empty")])
    first = await call(gateway, Recorder(), headers=[(b"sec-fetch-dest", b"document")])
    second = await call(gateway, Recorder())
    assert fetch.raw_body == PAGE
    assert b'nonce="n2"' in first.body()
    assert b'nonce="n3"' in second.body()
    again = await call(gateway, Recorder(), headers=[(b"sec-fetch-dest", b"empty")])
    assert again.raw_body == PAGE
    assert metric(gateway, "consent_gateway_pages_skipped_total", reason="not_document") == 2
    assert metric(gateway, "consent_gateway_pages_injected_total") == 2


async def test_one_visitors_repeated_page_still_follows_each_request(
    make_gateway: Gateway,
) -> None:
    """The same visitor and the same headers from the app: a page repeated is answered from
    the visitor's last response, but only when the method, the status, the scheme and the
    app's nonce are the same too."""
    statuses = iter([200, 200, 200, 404, 200, 200])
    nonces = iter([None, None, None, None, "n1", "n2"])

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonce = next(nonces)
        if nonce is not None:
            scope["state"]["csp_nonce"] = nonce
        await page_app([PAGE], status=next(statuses))(scope, receive, send)

    gateway = make_gateway(app, block_trackers="never")
    first, again, head, missing, n1, n2 = [
        await call(gateway, Recorder(), method=method)
        for method in ("GET", "GET", "HEAD", "GET", "GET", "GET")
    ]
    assert first.body() == again.body() != PAGE
    assert b"/_consent/banner." in again.body()
    # HEAD is answered as GET (the server drops the body); a 404 gets no banner.
    assert (head.start, head.body()) == (first.start, first.body())
    assert missing.raw_body == PAGE
    assert missing.start["status"] == 404
    assert b'nonce="n1"' in n1.body() and b'nonce="n2"' in n2.body()
    assert metric(gateway, "consent_gateway_pages_injected_total") == 5


async def test_a_csp_naming_hosts_is_judged_for_each_requests_host(make_gateway: Gateway) -> None:
    csp = (b"content-security-policy", b"default-src http://shop.example")
    gateway = make_gateway(page_app([PAGE], html_headers("", csp)), block_trackers="never")
    pages = [
        await call(gateway, Recorder(), headers=[(b"host", host)])
        for host in (b"shop.example", b"shop.example", b"other.example", b"shop.example")
    ]
    assert [b"/_consent/banner." in page.body() for page in pages] == [True, True, False, True]
    assert metric(gateway, "consent_gateway_pages_skipped_total", reason="csp") == 1


async def test_an_xhtml_page_stays_well_formed_xml(make_gateway: Gateway) -> None:
    doc = (
        b'<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
        b"<head><title>x</title></head><body><p>hi</p></body></html>"
    )
    headers = [(b"content-type", b"application/xhtml+xml; charset=utf-8")]
    _, page = await serve(make_gateway, [doc], headers)
    root = ET.fromstring(page.body())
    head = root.find("{http://www.w3.org/1999/xhtml}head")
    assert head is not None
    assert [child.tag.split("}")[1] for child in head] == ["link", "script", "title"]


@pytest.mark.parametrize("charset", [b"utf-16", b"UTF-16LE", b"iso-2022-jp"])
async def test_pages_whose_bytes_are_not_ascii_markup_pass_untouched(
    make_gateway: Gateway, charset: bytes
) -> None:
    body = "<html><head></head></html>".encode("utf-16")
    headers = [(b"content-type", b"text/html; charset=" + charset)]
    gateway, page = await serve(make_gateway, [body], headers)
    assert page.raw_body == body
    assert metric(gateway, "consent_gateway_pages_skipped_total", reason="charset") == 1


async def test_a_zero_copy_send_passes_untouched(make_gateway: Gateway) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": html_headers()})
        await send({"type": "http.response.pathsend", "path": "/srv/www/index.html"})

    recorder = Recorder()
    gateway = make_gateway(app)
    await call(gateway, recorder, extensions={"http.response.pathsend": {}})
    assert [m["type"] for m in recorder.sent] == ["http.response.start", "http.response.pathsend"]
    assert recorder.start["headers"] == html_headers()
    assert metric(gateway, "consent_gateway_pages_skipped_total", reason="pathsend") == 1


async def test_trackers_are_neutralised_for_an_opt_in_visitor(make_gateway: Gateway) -> None:
    recorder = Recorder()
    gateway = make_gateway(page_app([PAGE], recorder=recorder), trackers=HostRules(TRACKERS))
    await call(gateway, recorder)
    body = recorder.body()
    assert b"googletagmanager" in body
    assert b"<script async src='https://www.googletagmanager.com" not in body
    assert b'data-consent="analytics"' in body
    assert metric(gateway, "consent_gateway_trackers_neutralised_total", category="analytics") == 1


async def test_with_every_category_granted_only_the_banner_is_added(make_gateway: Gateway) -> None:
    rules = HostRules(TRACKERS)
    gateway = make_gateway(page_app([PAGE]), trackers=rules)
    async with client_for(gateway) as client:
        await client.post("/_consent/state", json={"all": True}, headers=ORIGIN_HEADERS)
        response = await client.get("/")
    body = response.content
    assert body.count(b"<script async src='https://www.googletagmanager.com") == 1
    assert rules.seen == []  # no full scan at all
    assert b"/_consent/banner." in body


async def test_block_trackers_never_and_always(make_gateway: Gateway) -> None:
    for mode, regime, neutralised in [
        ("never", "opt-in", False),
        ("opt-in", "opt-out", False),
        ("always", "opt-out", True),
    ]:
        recorder = Recorder()
        app = page_app([PAGE], recorder=recorder)
        gateway = make_gateway(
            app, trackers=HostRules(TRACKERS), block_trackers=mode, default_regime=regime
        )
        # Under opt-out nothing is refused before a choice: refuse analytics explicitly.
        async with client_for(gateway) as client:
            await client.post(
                "/_consent/state", json={"categories": {"marketing": True}}, headers=ORIGIN_HEADERS
            )
            body = (await client.get("/")).content
        assert (b'data-consent="analytics"' in body) is neutralised, mode


async def test_the_memo_keeps_visitors_variants_apart(make_gateway: Gateway) -> None:
    body = gzip.compress(PAGE)
    gateway = make_gateway(page_app([body], html_headers("gzip")))
    async with client_for(gateway) as first, client_for(gateway) as second:
        await second.post("/_consent/state", json={"all": True}, headers=ORIGIN_HEADERS)
        a1, b1, a2, b2 = [await c.get("/") for c in (first, second, first, second)]
    assert a1.content == a2.content and b1.content == b2.content
    assert a1.content != b1.content
    assert b"&quot;analytics&quot;:false" in a1.content
    assert b"&quot;analytics&quot;:true" in b1.content
    assert metric(gateway, "consent_gateway_pages_injected_total") == 4


async def test_pages_of_one_length_in_turn_each_get_their_own_rewrite(
    make_gateway: Gateway,
) -> None:
    # Same length, same variant: only the bytes tell them apart (the page sent last and the
    # memo's buckets must compare them).
    pages = [PAGE.replace(b"<h1>Hello", b"<h1>Hello %d" % n) for n in range(3)]
    turn = iter([0, 1, 0, 2, 2, 1, 0])
    sent: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        sent.append(next(turn))
        await send({"type": "http.response.start", "status": 200, "headers": html_headers("gzip")})
        await send({"type": "http.response.body", "body": gzip.compress(pages[sent[-1]], mtime=0)})

    gateway = make_gateway(app)
    async with client_for(gateway) as client:
        bodies = [(await client.get("/")).content for _ in range(7)]
    for index, body in zip(sent, bodies, strict=True):
        assert b"<h1>Hello %d</h1>" % index in body
        assert body.count(b'<link rel="stylesheet" href="/_consent/banner.') == 1


async def test_an_app_that_never_ends_its_body_gets_what_it_sent(make_gateway: Gateway) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": html_headers()})
        await send({"type": "http.response.body", "body": b"<!--", "more_body": True})

    recorder = await call(make_gateway(app), Recorder())
    assert recorder.raw_body == b"<!--" and recorder.start["headers"] == html_headers()


async def test_an_app_that_returns_after_the_start_gets_its_start_sent(
    make_gateway: Gateway,
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": html_headers()})

    recorder = await call(make_gateway(app), Recorder())
    assert recorder.start["headers"] == html_headers() and recorder.raw_body == b""


CODINGS = st.sampled_from(["", "gzip", "deflate", "deflate-raw", "br", "zstd"])


class Switch:
    """One gateway for every example; the app behind it is swapped per example."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def switched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Switch, ConsentMiddleware]:
    database = tmp_path_factory.mktemp("inject") / "consent.db"
    switch = Switch()
    settings = Settings.load(
        environ={}, secret=SECRET, database_url=f"sqlite:///{database}", block_trackers="never"
    )
    return switch, ConsentMiddleware(switch, settings)


@pytest.mark.slow
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=DOCUMENTS, cuts=CUTS, coding=CODINGS)
def test_any_document_in_any_chunks_comes_back_whole(
    switched: tuple[Switch, ConsentMiddleware], doc: bytes, cuts: list[int], coding: str
) -> None:
    """Through the whole middleware, in every coding: the page minus the banner's tags is
    the app's page, byte for byte, however the app chunked it."""
    switch, gateway = switched
    chunks = stream_encode(coding, doc, cuts) if cuts else [encode(coding, doc)]
    recorder = Recorder()
    switch.app = page_app(chunks, html_headers(coding), recorder=recorder)
    asyncio.run(call(gateway, recorder))
    body = recorder.body()
    tags = tags_of(gateway, recorder.state)
    assert body.count(tags.head) <= 1
    assert without_tags(body, tags) == doc


STATES = st.builds(
    ConsentState,
    granted=st.frozensets(st.sampled_from(list(Category))).map(lambda g: g | {Category.ESSENTIAL}),
    decided=st.booleans(),
    source=st.sampled_from(list(Source)),
    policy_version=st.sampled_from(["1", "2026-11"]),
    regime=st.sampled_from(list(Regime)),
    consent_id=st.one_of(st.none(), st.text(min_size=1, max_size=4)),
    decided_at=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
    country=st.one_of(st.none(), st.sampled_from(["DE", "US", "FR"])),
    subdivision=st.one_of(st.none(), st.sampled_from(["CA", "BY"])),
    gpc=st.booleans(),
    bot=st.booleans(),
)


@pytest.mark.slow
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=STATES, second=STATES, nonce=st.sampled_from([None, "n0nce"]))
def test_pages_are_remembered_by_exactly_what_the_banner_shows(
    switched: tuple[Switch, ConsentMiddleware],
    first: ConsentState,
    second: ConsentState,
    nonce: str | None,
) -> None:
    """Decisions and tags are shared by visitors whose states look the same to the banner
    (their consent ids, times and places differ): that must be exactly when Banner.snippet
    agrees. If the banner shows more of the state one day, this fails."""
    banner = switched[1].gateway.banner
    same_tags = banner.snippet(first, nonce) == banner.snippet(second, nonce)
    assert same_tags == (visible(first) == visible(second))


@pytest.mark.slow
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    state=STATES,
    other=STATES,
    nonce=st.sampled_from([None, "n0nce"]),
)
def test_visitors_differing_only_in_what_the_key_leaves_out_get_the_same_tags(
    switched: tuple[Switch, ConsentMiddleware],
    state: ConsentState,
    other: ConsentState,
    nonce: str | None,
) -> None:
    banner = switched[1].gateway.banner
    twin = dataclasses.replace(
        state,
        consent_id=other.consent_id,
        decided_at=other.decided_at,
        country=other.country,
        subdivision=other.subdivision,
        bot=other.bot,
    )
    assert visible(twin) == visible(state)
    assert banner.snippet(twin, nonce) == banner.snippet(state, nonce)


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
async def test_a_page_sent_again_is_compressed_better_once_and_served_so(
    make_gateway: Gateway, coding: str
) -> None:
    """The first rewrite is encoded fast (the page may never come again); when the same page
    comes again it is encoded as small as the coding allows, once, and served that way."""
    from tests.support.shop_page import PAGE

    body = encode_all(coding, PAGE)
    gateway = make_gateway(page_app([body], html_headers(coding)))
    sent = [await call(gateway, Recorder()) for _ in range(4)]
    first, second, third, fourth = (recorder.raw_body for recorder in sent)
    documents = {decode_all(coding, raw) for raw in (first, second, third, fourth)}
    assert len(documents) == 1
    assert b'<script src="/_consent/banner.' in documents.pop()
    assert len(second) < len(first) * 0.97
    assert second == third == fourth  # remembered, not encoded again
    for recorder in sent:
        assert recorder.headers[b"content-length"] == str(len(recorder.raw_body)).encode()
