"""The consent API through a real uvicorn server and a real HTTP client: where a form post
returns to."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gateway import ConsentMiddleware, Settings
from tests.conftest import cookie_app, running

SHOP = "https://www.shop.example"


@pytest.fixture
def served(settings: Settings) -> Iterator[httpx.Client]:
    gateway = ConsentMiddleware(
        cookie_app(), settings.model_copy(update={"allowed_origins": [SHOP]})
    )
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
