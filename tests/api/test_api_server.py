"""The consent API through a real uvicorn server and a real HTTP client: where a form post
returns to, how the banner's files are served, and how errors are answered."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import brotli
import httpx
import pytest

from gateway import ConsentMiddleware, Settings
from tests.support.agents import CHROME_WINDOWS
from tests.support.apps import cookie_app
from tests.support.servers import running

pytestmark = pytest.mark.slow  # every test runs a real server

SHOP = "https://www.shop.example"


@pytest.fixture
def gateway(settings: Settings) -> ConsentMiddleware:
    analytics = {"plausible": {"site_ids": ["shop.example"]}}
    options = {"allowed_origins": [SHOP], "analytics": analytics}
    return ConsentMiddleware(
        cookie_app(), Settings.load(environ={}, **{**settings.model_dump(), **options})
    )


@pytest.fixture
def served(gateway: ConsentMiddleware) -> Iterator[httpx.Client]:
    with running(gateway) as url, httpx.Client(base_url=url) as client:
        yield client


def form_post(client: httpx.Client, referer: str, origin: str | None = None) -> str:
    """Where the no-JavaScript form's 303 sends the browser."""
    origin = origin or str(client.base_url).rstrip("/")
    answer = client.post(
        "/_consent/state",
        data={"all": "reject"},
        headers={"origin": origin, "referer": referer},
    )
    assert answer.status_code == 303
    return answer.headers["location"]


@pytest.mark.parametrize(
    "path",
    ["/\\evil.example", "/\\\\evil.example/x", "/\t/evil.example", "//evil.example", "/ /evil"],
)
def test_the_form_never_returns_to_another_site(served: httpx.Client, path: str) -> None:
    here = str(served.base_url).rstrip("/")
    location = form_post(served, here + path)
    # Browsers read "\" as "/" and drop tabs: "/\evil.example" is protocol-relative.
    assert location.startswith("/")
    assert not location.startswith(("//", "/\\"))
    assert "\\" not in location
    assert "\t" not in location


def test_the_form_returns_to_the_page_of_this_site_that_posted(served: httpx.Client) -> None:
    here = str(served.base_url).rstrip("/")
    assert form_post(served, here + "/shop/item?id=4") == "/shop/item?id=4"
    assert form_post(served, "https://other.example/page") == "/"


def test_an_embedded_form_returns_to_the_allowed_page_that_posted(served: httpx.Client) -> None:
    # The embed deployment: the page is on another origin listed in allowed_origins.
    assert form_post(served, f"{SHOP}/products/42?colour=red", SHOP) == (
        f"{SHOP}/products/42?colour=red"
    )
    # Browsers send only the origin across origins by default (strict-origin-when-cross-origin).
    assert form_post(served, f"{SHOP}/", SHOP) == f"{SHOP}/"
    # An origin not listed, or one that only looks like it, gets the gateway's home page.
    assert form_post(served, "https://www.shop.example.evil/p", SHOP) == "/"
    assert form_post(served, "https://user@www.shop.example/p", SHOP) == "/"
    assert form_post(served, "http://www.shop.example/p", SHOP) == "/"


BANNER_FILES = ["banner.js", "banner.css", "consent-mode.js", "locales/en.json", "locales/de.json"]


def raw(
    client: httpx.Client, path: str, accept: str | None, **headers: str
) -> tuple[httpx.Response, bytes]:
    """The answer, and its body as it came over the wire (not decoded); ``accept`` None
    sends no Accept-Encoding."""
    request = client.build_request("GET", path, headers=headers)
    del request.headers["accept-encoding"]
    if accept is not None:
        request.headers["accept-encoding"] = accept
    response = client.send(request, stream=True)
    try:
        return response, b"".join(response.iter_raw())
    finally:
        response.close()


@pytest.mark.parametrize("name", BANNER_FILES)
def test_banner_files_are_served_compressed_to_clients_that_accept_it(
    gateway: ConsentMiddleware, served: httpx.Client, name: str
) -> None:
    original = gateway.gateway.banner.asset(name).body
    paths = [f"/_consent/{name}"]
    if not name.startswith("locales/"):
        paths.append(gateway.gateway.banner.url(name))  # the content-hashed URL pages use
    for path in paths:
        plain, plain_body = raw(served, path, None)
        zipped, zipped_body = raw(served, path, "gzip, deflate")
        broken, broken_body = raw(served, path, "gzip, deflate, br, zstd")
        for response in (plain, zipped, broken):
            assert response.status_code == 200
            assert "accept-encoding" in response.headers["vary"].lower()
        assert "content-encoding" not in plain.headers
        assert plain_body == original
        assert zipped.headers["content-encoding"] == "gzip"
        assert gzip.decompress(zipped_body) == original
        assert broken.headers["content-encoding"] == "br"
        assert brotli.decompress(broken_body) == original
        assert len(broken_body) < len(zipped_body) < len(original)
        assert len({plain.headers["etag"], zipped.headers["etag"], broken.headers["etag"]}) == 3


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip;q=0, br;q=0", None),
        ("gzip;q=0", None),
        ("br;q=0, gzip", "gzip"),
        ("br;q=0.5, gzip;q=0.8", "gzip"),
        ("br;q=0.5, gzip;q=0.5", "br"),
        ("*", "br"),
        ("*;q=0, gzip", "gzip"),
        ("identity, gzip;q=0.5", None),
        ("x-gzip", "gzip"),
        ("GZIP;Q=1", "gzip"),
        ("gzip;q=nonsense", None),
        ("identity", None),
        ("", None),
    ],
)
def test_the_encoding_follows_the_clients_preferences(
    served: httpx.Client, accept: str, coding: str | None
) -> None:
    answer, _ = raw(served, "/_consent/banner.js", accept)
    assert answer.headers.get("content-encoding") == coding


def test_each_encoding_is_revalidated_with_its_own_etag(served: httpx.Client) -> None:
    zipped, _ = raw(served, "/_consent/banner.js", "gzip")
    etag = zipped.headers["etag"]
    again, body = raw(served, "/_consent/banner.js", "gzip", **{"if-none-match": etag})
    assert (again.status_code, body) == (304, b"")
    assert again.headers["etag"] == etag
    assert "accept-encoding" in again.headers["vary"].lower()
    # The gzip copy is not what a client that now prefers br gets.
    other, _ = raw(served, "/_consent/banner.js", "br", **{"if-none-match": etag})
    assert other.status_code == 200
    assert other.headers["content-encoding"] == "br"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_on_banner_files_are_405(
    gateway: ConsentMiddleware, served: httpx.Client, method: str
) -> None:
    for path in (
        "/_consent/banner.js",
        gateway.gateway.banner.url("banner.css"),
        "/_consent/locales/de.json",
    ):
        answer = served.request(method, path, headers={"origin": SHOP})
        assert answer.status_code == 405, (method, path)
        assert answer.headers["allow"] == "GET, HEAD"
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_json_errors_are_not_sniffed(served: httpx.Client) -> None:
    here = str(served.base_url).rstrip("/")
    answers = [
        served.post("/_consent/state", content=b"{not json", headers={"origin": here}),
        served.get("/_consent/nothing-here"),
        served.put("/_consent/state", json={"all": True}, headers={"origin": here}),
        served.post("/_consent/state", json={"all": True}, headers={"origin": "https://x.example"}),
        served.post(
            "/_consent/collect/plausible/api/event",
            content=b"{not json",
            headers={"user-agent": CHROME_WINDOWS},  # python-httpx is a bot: answered, dropped
        ),
        served.get("/_consent/collect/nobody/collect"),
    ]
    for answer in answers:
        assert 400 <= answer.status_code < 500
        assert "error" in answer.json()
        assert answer.headers["x-content-type-options"] == "nosniff", answer.request.url
    assert answers[2].headers["allow"] == "GET, HEAD, POST, DELETE, OPTIONS"
