"""The request and response headers crossing the proxy, for what the sockets of the other
tests do not reach: IPv6 peers, the ``Forwarded`` kind of trusted proxy, ``q=0``."""

from __future__ import annotations

from gateway.proxies import ProxyPeer
from gateway.proxy.headers import decodable_encodings, may_be_html, request_headers
from gateway.proxy.headers import response_headers as upstream_response


def _named(headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    return dict(headers)


def test_an_ipv6_peer_is_bracketed_and_quoted_in_forwarded() -> None:
    headers = request_headers(
        [(b"host", b"shop.example")],
        peer="2001:db8::7",
        proxy=None,
        proxy_kind="x-forwarded",
        client="2001:db8::7",
        scheme="https",
        method="GET",
        accept=None,
    )
    named = _named(headers)
    assert named[b"forwarded"] == b'for="[2001:db8::7]";proto=https;host=shop.example'
    assert named[b"x-forwarded-for"] == b"2001:db8::7"
    assert headers[0] == (b"host", b"shop.example")


def test_a_trusted_forwarded_chain_is_kept_and_extended() -> None:
    headers = request_headers(
        [
            (b"host", b"shop.example"),
            (b"forwarded", b"for=198.51.100.4;proto=https"),
            (b"x-forwarded-for", b"203.0.113.66"),  # not the kind this proxy writes
        ],
        peer="10.0.0.2",
        proxy=ProxyPeer(("10.0.0.2", 4711), "http", "internal:8000"),
        proxy_kind="forwarded",
        client="198.51.100.4",
        scheme="https",
        method="POST",
        accept=None,
    )
    named = _named(headers)
    assert named[b"host"] == b"internal:8000"
    assert named[b"x-forwarded-for"] == b"198.51.100.4, 10.0.0.2"
    assert named[b"forwarded"] == (
        b"for=198.51.100.4;proto=https, for=10.0.0.2;proto=https;host=shop.example"
    )


def test_hop_by_hop_headers_go_the_proxy_s_own_stay() -> None:
    headers = request_headers(
        [
            (b"host", b"a"),
            (b"connection", b"keep-alive, x-secret, host, content-length"),
            (b"keep-alive", b"timeout=5"),
            (b"te", b"trailers"),
            (b"upgrade", b"h2c"),
            (b"proxy-connection", b"keep-alive"),
            (b"x-secret", b"1"),
            (b"expect", b"100-continue"),
            (b"cookie", b"sid=1"),
        ],
        peer="192.0.2.1",
        proxy=None,
        proxy_kind="x-forwarded",
        client="192.0.2.1",
        scheme="http",
        method="GET",
        accept=None,
    )
    names = [name for name, _ in headers]
    assert names == [
        b"host",
        b"cookie",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"forwarded",
    ]


def test_response_hop_by_hop_headers_are_removed() -> None:
    kept = upstream_response(
        [
            (b"content-type", b"text/plain"),
            (b"connection", b"keep-alive, x-internal"),
            (b"keep-alive", b"timeout=5"),
            (b"transfer-encoding", b"chunked"),
            (b"x-internal", b"1"),
            (b"set-cookie", b"sid=1"),
            (b"server", b"nginx"),
        ]
    )
    assert kept == [(b"content-type", b"text/plain"), (b"set-cookie", b"sid=1")]


def test_which_requests_may_get_a_page() -> None:
    assert may_be_html("GET", None)
    assert may_be_html("HEAD", b"text/html")
    assert may_be_html("GET", b"image/webp, */*;q=0.8")
    assert not may_be_html("GET", b"application/json")
    assert not may_be_html("GET", b"text/html;q=0, application/json")
    assert not may_be_html("POST", b"text/html")


def test_codings_are_narrowed_to_what_the_gateway_decodes() -> None:
    assert decodable_encodings(b"gzip, deflate, br, zstd") == b"gzip, deflate, br, zstd"
    assert decodable_encodings(b"br;q=0, gzip;q=0.5, sdch") == b"gzip;q=0.5"
    assert decodable_encodings(b"compress") == b"identity"
    assert decodable_encodings(b"*") == b"identity"
