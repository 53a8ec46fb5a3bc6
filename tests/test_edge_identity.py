"""The visitor's identity resolved once at the edge (``gateway.proxies``): behind a trusted
proxy, the client address, scheme and host the proxy names are what every part of the gateway
and the app see; from any other peer the same headers change nothing.

Through a real uvicorn server with its own proxy-header reading off, as `consent-gateway demo`
runs it: the gateway's ``trusted_proxies`` is under test, and the test client on loopback
plays the proxy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from gateway import ConsentMiddleware, Settings
from gateway.proxies import ProxyPeer, TrustedProxies, forwarded_elements
from tests.support.apps import SECRET
from tests.support.servers import running
from tests.support.standin import StandIn

BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.85 Safari/537.36"
)
SHOP = "https://shop.example"
X_HTTPS = {"x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https"}
FORWARDED_HTTPS = {"forwarded": 'for="[2001:db8::1]:4711";proto=https'}
# A page that admits scripts and styles of https://shop.example only: the banner's tags
# (same-origin paths) fit only when the page is that origin.
CSP = "script-src https://shop.example; style-src https://shop.example"


async def _whoami(request: Request) -> JSONResponse:
    """What the app sees of the request."""
    proxy: ProxyPeer | None = request.scope["state"].get("proxy")
    return JSONResponse(
        {
            "client": request.client.host if request.client else None,
            "scheme": request.url.scheme,
            "host": request.headers.get("host"),
            "proxy": [proxy.client[0], proxy.scheme, proxy.host] if proxy else None,
        }
    )


async def _page(request: Request) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><title>Shop</title></head><body>Hi</body></html>",
        headers={"content-security-policy": CSP},
    )


def make(tmp_path: Path, **options: Any) -> ConsentMiddleware:
    app = Starlette(routes=[Route("/", _whoami), Route("/page", _page)])
    settings = Settings.load(
        environ={}, secret=SECRET, database_url=f"sqlite:///{tmp_path / 'c.db'}", **options
    )
    return ConsentMiddleware(app, settings)


@contextmanager
def client_for(gateway: ConsentMiddleware) -> Iterator[httpx.Client]:
    with running(gateway, proxy_headers=False) as url, httpx.Client(base_url=url) as client:
        yield client


def choose(client: httpx.Client, headers: dict[str, str], origin: str | None = None) -> str:
    """Accept all as the banner does; the consent cookie's Set-Cookie line."""
    origin = origin or str(client.base_url).rstrip("/")
    answer = client.post(
        "/_consent/state", json={"all": True}, headers={"origin": origin, **headers}
    )
    assert answer.status_code == 200, answer.text
    return next(line for line in answer.headers.get_list("set-cookie") if "cg_consent=" in line)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("proxy_headers", "headers"),
    [("x-forwarded", X_HTTPS), ("forwarded", FORWARDED_HTTPS)],
)
@pytest.mark.parametrize("host_prefix", [False, True])
def test_behind_a_tls_proxy_the_consent_cookie_is_secure(
    tmp_path: Path, proxy_headers: str, headers: dict[str, str], host_prefix: bool
) -> None:
    gateway = make(
        tmp_path,
        trusted_proxies=["127.0.0.1"],
        proxy_headers=proxy_headers,
        cookie_host_prefix=host_prefix,
    )
    with client_for(gateway) as client:
        line = choose(client, headers)
        plain = choose(client, {})  # the proxy's own request, on plain HTTP
    assert "; secure" in line.lower()
    assert line.startswith("__Host-cg_consent=") == host_prefix
    assert "; secure" not in plain.lower()
    assert plain.startswith("cg_consent=")


@pytest.mark.slow
@pytest.mark.parametrize(
    "headers",
    [
        {**X_HTTPS, "x-forwarded-host": "shop.example"},
        {"forwarded": 'for="[2001:db8::1]:4711";proto=https;host=shop.example'},
    ],
)
def test_from_a_peer_not_trusted_the_headers_change_nothing(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    for mode in ("x-forwarded", "forwarded"):
        gateway = make(tmp_path, trusted_proxies=["10.0.0.0/8"], proxy_headers=mode)
        with client_for(gateway) as client:
            line = choose(client, headers)
            seen = client.get("/", headers=headers).json()
            here = str(client.base_url).removeprefix("http://").rstrip("/")
        assert "; secure" not in line.lower()
        assert seen == {"client": "127.0.0.1", "scheme": "http", "host": here, "proxy": None}


@pytest.mark.slow
def test_only_the_kind_of_header_the_proxy_writes_is_believed(tmp_path: Path) -> None:
    # The other kind passes through the proxy as the client wrote it.
    x_forwarded = make(tmp_path, trusted_proxies=["127.0.0.1"])
    with client_for(x_forwarded) as client:
        line = choose(client, {"forwarded": "for=203.0.113.9;proto=https"})
        seen = client.get("/", headers={"forwarded": "for=203.0.113.9;proto=https"}).json()
    assert "; secure" not in line.lower()
    assert (seen["client"], seen["scheme"]) == ("127.0.0.1", "http")
    forwarded = make(tmp_path, trusted_proxies=["127.0.0.1"], proxy_headers="forwarded")
    with client_for(forwarded) as client:
        line = choose(client, X_HTTPS)
        seen = client.get("/", headers=X_HTTPS).json()
    assert "; secure" not in line.lower()
    assert (seen["client"], seen["scheme"]) == ("127.0.0.1", "http")


@pytest.mark.slow
def test_the_app_sees_the_visitor_and_the_proxy_beside_it(tmp_path: Path) -> None:
    gateway = make(tmp_path, trusted_proxies=["127.0.0.1", "10.0.0.0/8"])
    headers = {
        "x-forwarded-for": "198.51.100.1, 203.0.113.9, 10.0.0.2",  # the first is the client's
        "x-forwarded-proto": "https",
        "x-forwarded-host": "shop.example",
    }
    with client_for(gateway) as client:
        seen = client.get("/", headers=headers).json()
        here = str(client.base_url).removeprefix("http://").rstrip("/")
    assert seen == {
        "client": "203.0.113.9",
        "scheme": "https",
        "host": "shop.example",
        "proxy": ["127.0.0.1", "http", here],
    }


@pytest.mark.slow
def test_the_same_origin_check_and_the_form_return_use_the_visitors_host(
    tmp_path: Path,
) -> None:
    headers = {
        "x-forwarded-proto": "https",
        "x-forwarded-host": "shop.example",
        "origin": SHOP,
        "referer": SHOP + "/basket?step=2",
    }
    with client_for(make(tmp_path, trusted_proxies=["127.0.0.1"])) as client:
        back = client.post("/_consent/state", data={"all": "accept"}, headers=headers)
    assert back.status_code == 303, back.text
    assert back.headers["location"] == "/basket?step=2"
    assert "; secure" in back.headers["set-cookie"].lower()
    # From a peer not trusted, the host is the connection's: shop.example is another site.
    with client_for(make(tmp_path, trusted_proxies=["10.0.0.0/8"])) as client:
        refused = client.post("/_consent/state", data={"all": "accept"}, headers=headers)
    assert refused.status_code == 403, refused.text


@pytest.mark.slow
def test_the_page_injection_sees_the_visitors_origin(tmp_path: Path) -> None:
    # The page's CSP admits https://shop.example: the banner's same-origin tags fit there, and
    # not on the proxy's own http://127.0.0.1:port.
    proxied = {"x-forwarded-proto": "https", "x-forwarded-host": "shop.example"}
    for trusted, injected in ((["127.0.0.1"], True), (["10.0.0.0/8"], False)):
        with client_for(make(tmp_path, trusted_proxies=trusted)) as client:
            page = client.get("/page", headers={"user-agent": BROWSER, **proxied}).text
        assert ("/_consent/banner" in page) is injected, trusted


@pytest.fixture
def geoip(tmp_path: Path) -> Path:
    """California (opt-out) for 203.0.113.0/24, Quebec (opt-in) for 2001:db8::/32."""
    writer = MMDBWriter(ip_version=6, database_type="GeoIP2-City", ipv4_compatible=True)
    writer.insert_network(
        IPSet(["203.0.113.0/24"]),
        {"country": {"iso_code": "US"}, "subdivisions": [{"iso_code": "CA"}]},
    )
    writer.insert_network(
        IPSet(["2001:db8::/32"]),
        {"country": {"iso_code": "CA"}, "subdivisions": [{"iso_code": "QC"}]},
    )
    path = tmp_path / "city.mmdb"
    writer.to_db_file(str(path))
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    ("proxy_headers", "headers", "regime", "network"),
    [
        ("x-forwarded", {"x-forwarded-for": "203.0.113.9"}, "opt-out", "203.0.113.0"),
        ("forwarded", FORWARDED_HTTPS, "opt-in", "2001:db8::"),
    ],
)
def test_analytics_and_the_geoip_look_up_see_the_forwarded_client(
    tmp_path: Path,
    geoip: Path,
    proxy_headers: str,
    headers: dict[str, str],
    regime: str,
    network: str,
) -> None:
    stand_in = StandIn().start()
    try:
        gateway = make(
            tmp_path,
            trusted_proxies=["127.0.0.1"],
            proxy_headers=proxy_headers,
            geoip_database=str(geoip),
            default_regime="notice",  # what the proxy's own address gets
            analytics={"plausible": {"upstream": stand_in.url}, "retry_base_seconds": 0.05},
        )
        with client_for(gateway) as client:
            state = client.get("/_consent/state", headers=headers).json()
            hit = {"n": "pageview", "u": SHOP + "/", "d": "shop.example"}
            sent = client.post(
                "/_consent/collect/plausible/api/event",
                content=json.dumps(hit),
                headers={"user-agent": BROWSER, "content-type": "text/plain", **headers},
            )
            assert sent.status_code == 202, sent.text
            (forwarded,) = stand_in.wait_count(1)
    finally:
        stand_in.stop()
    assert state["regime"] == regime
    assert forwarded.headers["x-forwarded-for"] == network  # truncated, never the proxy's


def _scope(headers: list[tuple[bytes, bytes]], kind: str = "http") -> dict[str, Any]:
    return {
        "type": kind,
        "client": ("10.0.0.1", 5000),
        "scheme": "ws" if kind == "websocket" else "http",
        "headers": [(b"host", b"app.internal:8000"), *headers],
    }


def test_forwarded_elements_follow_rfc_7239() -> None:
    assert forwarded_elements('for="[2001:db8:cafe::17]:4711"') == [
        {"for": "[2001:db8:cafe::17]:4711"}
    ]
    assert forwarded_elements("for=192.0.2.60;proto=http;by=203.0.113.43") == [
        {"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}
    ]
    assert forwarded_elements("for=192.0.2.43, For=198.51.100.17 ;PROTO=https") == [
        {"for": "192.0.2.43"},
        {"for": "198.51.100.17", "proto": "https"},
    ]
    assert forwarded_elements(' , for="_hidden", ,for=unknown') == [
        {"for": "_hidden"},
        {"for": "unknown"},
    ]
    assert forwarded_elements(r'for="a\"b"') == [{"for": 'a"b'}]
    assert forwarded_elements("for=a;;proto=https;") == [{"for": "a", "proto": "https"}]
    # Not RFC 7239: believed in no part.
    for value in ("for=a b", "for=a;for=b", 'for="open', "for", "=x", "for = a"):
        assert forwarded_elements(value) == [], value


def test_the_client_is_the_first_untrusted_hop_from_the_right() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"], "forwarded")
    value = b'for=198.51.100.1;proto=http, for="[2001:db8::1]:4711";proto=https;host=shop.example'
    resolved = proxies.resolve(_scope([(b"forwarded", value + b", for=10.0.0.7;proto=http")]))
    assert resolved["client"] == ("2001:db8::1", 4711)
    assert resolved["scheme"] == "https"  # what the visitor used, not the inner hop's http
    assert (b"host", b"shop.example") in resolved["headers"]
    assert resolved["state"]["proxy"] == ProxyPeer(("10.0.0.1", 5000), "http", "app.internal:8000")


@pytest.mark.parametrize(
    ("headers", "scheme", "host"),
    [
        # The last X-Forwarded-Proto and -Host values are the nearest proxy's.
        (
            [
                (b"x-forwarded-proto", b"https, http"),
                (b"x-forwarded-host", b"a.example, b.example"),
            ],
            "http",
            b"b.example",
        ),
        ([(b"x-forwarded-host", b"[2001:db8::1]:8443")], "http", b"[2001:db8::1]:8443"),
        # Not a scheme, not a host: ignored.
        ([(b"x-forwarded-proto", b"ftp")], "http", b"app.internal:8000"),
        ([(b"x-forwarded-host", b"evil.example/x")], "http", b"app.internal:8000"),
        ([(b"x-forwarded-host", b'a"b')], "http", b"app.internal:8000"),
        ([(b"x-forwarded-for", b"")], "http", b"app.internal:8000"),
    ],
)
def test_what_the_x_forwarded_headers_say(
    headers: list[tuple[bytes, bytes]], scheme: str, host: bytes
) -> None:
    resolved = TrustedProxies(["10.0.0.0/8"]).resolve(_scope(headers))
    assert resolved["client"] == ("10.0.0.1", 5000)  # no X-Forwarded-For hop: the peer
    assert resolved["scheme"] == scheme
    assert [value for name, value in resolved["headers"] if name == b"host"] == [host]


def test_a_websocket_behind_a_tls_proxy_is_wss_and_bad_forwarded_headers_change_nothing() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"], "forwarded")
    upgraded = proxies.resolve(_scope([(b"forwarded", b"for=192.0.2.1;proto=https")], "websocket"))
    assert (upgraded["client"], upgraded["scheme"]) == (("192.0.2.1", 0), "wss")
    broken = proxies.resolve(_scope([(b"forwarded", b"for=192.0.2.1;proto=https junk")]))
    assert (broken["client"], broken["scheme"]) == (("10.0.0.1", 5000), "http")
    hidden = proxies.resolve(_scope([(b"forwarded", b"proto=https")]))  # no for=: the peer
    assert (hidden["client"], hidden["scheme"]) == (("10.0.0.1", 5000), "https")


@pytest.mark.parametrize(
    ("node", "client"),
    [
        ('"[2001:db8::1]:4711"', ("2001:db8::1", 4711)),
        ('"192.0.2.1:8080"', ("192.0.2.1", 8080)),
        ('"2001:db8::1"', ("2001:db8::1", 0)),  # unbracketed: no port to read
        ('"[2001:db8::1]:_port"', ("2001:db8::1", 0)),
        ("unknown", ("unknown", 0)),
    ],
)
def test_a_forwarded_node_names_the_address_and_maybe_a_port(
    node: str, client: tuple[str, int]
) -> None:
    scope = _scope([(b"forwarded", f"for={node}".encode())])
    assert TrustedProxies(["10.0.0.0/8"], "forwarded").resolve(scope)["client"] == client
