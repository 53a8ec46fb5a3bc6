"""The consent API's route table through a real server: 404 for a path no route has, 405
with ``Allow`` for a method a route does not take, HEAD answered as GET, ``/metrics`` only
when the operator asks for it, and one CORS rule for the API and the collection endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import ConsentMiddleware, Settings
from tests.support.apps import SECRET, cookie_app
from tests.support.servers import running

pytestmark = pytest.mark.slow  # every test runs a real server

SHOP = "https://www.shop.example"
EVIL = "https://evil.example"


@contextmanager
def served(tmp_path: Path, **options: Any) -> Iterator[httpx.Client]:
    settings = Settings.load(
        environ={},
        secret=SECRET,
        database_url=f"sqlite:///{tmp_path / 'c.db'}",
        **{
            "allowed_origins": [SHOP],
            "analytics": {"plausible": {"site_ids": ["shop.example"]}},
            **options,
        },
    )
    gateway = ConsentMiddleware(cookie_app(), settings)
    with running(gateway) as url, httpx.Client(base_url=url) as client:
        yield client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    with served(tmp_path) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/_consent/state", "GET, HEAD, POST, DELETE, OPTIONS"),
        ("PATCH", "/_consent/state", "GET, HEAD, POST, DELETE, OPTIONS"),
        ("POST", "/_consent/declaration", "GET, HEAD"),
        ("DELETE", "/_consent/declaration", "GET, HEAD"),
        ("OPTIONS", "/_consent/declaration", "GET, HEAD"),
        ("POST", "/_consent/banner.js", "GET, HEAD"),
    ],
)
def test_a_known_path_with_another_method_is_405_with_allow(
    client: httpx.Client, method: str, path: str, allow: str
) -> None:
    answer = client.request(method, path, headers={"origin": str(client.base_url)})
    assert answer.status_code == 405
    assert answer.headers["allow"] == allow
    assert method in answer.json()["error"]
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    ["/_consent/nothing", "/_consent/", "/_consent", "/_consent/state/", "/_consent/metrics"],
)
def test_an_unknown_path_is_404_whatever_the_method(client: httpx.Client, path: str) -> None:
    for method in ("GET", "HEAD", "POST"):
        answer = client.request(method, path)
        assert answer.status_code == 404, (method, path)
        if method != "HEAD":
            assert "error" in answer.json()


@pytest.mark.parametrize(
    "path", ["/_consent/state", "/_consent/declaration", "/_consent/banner.js"]
)
def test_head_is_answered_as_get_without_a_body(client: httpx.Client, path: str) -> None:
    got = client.get(path, headers={"accept-encoding": "identity"})
    head = client.head(path, headers={"accept-encoding": "identity"})
    assert (got.status_code, head.status_code) == (200, 200)
    assert head.content == b""
    for name in ("content-type", "content-length", "cache-control", "etag"):
        assert head.headers.get(name) == got.headers.get(name), name


def test_metrics_are_served_on_the_public_prefix_only_when_asked(tmp_path: Path) -> None:
    with served(tmp_path, metrics=True) as public:
        answer = public.get("/_consent/metrics")
        assert answer.status_code == 200
        assert "consent_gateway_decisions_total" in answer.text
        assert public.post("/_consent/metrics").headers["allow"] == "GET, HEAD"
    with served(tmp_path) as private:
        assert private.get("/_consent/metrics").status_code == 404


def test_collection_is_mounted_under_the_prefix(client: httpx.Client, tmp_path: Path) -> None:
    unknown = client.get("/_consent/collect/nobody/collect")
    assert unknown.status_code == 404
    assert "analytics provider" in unknown.json()["error"]
    with served(tmp_path, analytics={}) as without:
        assert without.post("/_consent/collect/plausible/api/event").status_code == 404


@pytest.mark.parametrize("path", ["/_consent/state", "/_consent/collect/plausible/api/event"])
def test_one_cors_rule_for_the_api_and_collection(client: httpx.Client, path: str) -> None:
    asked = {"access-control-request-method": "POST"}
    allowed = client.options(path, headers={"origin": SHOP, **asked})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == SHOP
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert allowed.headers["vary"] == "Origin"
    refused = client.options(path, headers={"origin": EVIL, **asked})
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    # A simple request from elsewhere gets its answer without the allow headers.
    other = client.get(path, headers={"origin": EVIL})
    assert "access-control-allow-origin" not in other.headers
    assert "Origin" in other.headers.get_list("vary")
