"""Matomo's matomo.php through the gateway: image GETs, form POSTs and bulk requests."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import httpx
import pytest

from gateway import ConsentMiddleware
from gateway.analytics.providers.matomo import PIXEL
from tests.support.providers import BROWSER_UA, consent
from tests.support.servers import serving
from tests.support.standin import StandIn

pytestmark = pytest.mark.slow  # every test runs a real server and a stand-in provider

Gateway = Callable[..., ConsentMiddleware]
HEADERS = {"user-agent": BROWSER_UA, "accept-language": "de-DE,de;q=0.9"}
# What matomo.js sends for a page view (trackPageView) with a _pk_id cookie.
PAGE_VIEW = [
    ("action_name", "Checkout"), ("idsite", "3"), ("rec", "1"), ("r", "123456"),
    ("h", "12"), ("m", "0"), ("s", "5"),
    ("url", "https://shop.example/cart?token=abc123&gclid=Cj0&item=7"),
    ("urlref", "https://news.example/story?id=9"), ("_id", "7a1b2c3d4e5f6a7b"),
    ("_idn", "0"), ("_idts", "1733000000"), ("_idvc", "4"), ("_viewts", "1733080000"),
    ("uid", "bob@example.org"), ("_cvar", '{"1":["email","bob@example.org"]}'),
    ("send_image", "0"), ("pv_id", "aB3dE6"), ("uadata", "{}"), ("pdf", "1"),
    ("cookie", "1"), ("res", "1920x1080"), ("token_auth", "a-token-from-the-browser"),
    ("cip", "198.51.100.1"), ("cdt", "2001-01-01 00:00:00"),
]  # fmt: skip


def test_page_view_without_consent_is_counted_without_ids(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        response = client.post(
            "/_consent/collect/matomo/matomo.php",
            content=urlencode(PAGE_VIEW),
            headers={**HEADERS, "content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 204
        (hit,) = stand_in.wait_count(1)
    sent = hit.params
    assert hit.path == "/matomo.php" and hit.method == "POST"
    assert sent["token_auth"] == "server-side-token"
    assert sent["cip"] == "127.0.0.0"
    assert sent["cdt"].isdigit()  # the time the gateway received the hit
    assert sent["ua"] == BROWSER_UA
    assert sent["lang"] == "de-DE"
    assert len(sent["_id"]) == 16 and sent["_id"] != "7a1b2c3d4e5f6a7b"
    for gone in ("uid", "_idts", "_idvc", "_viewts", "_cvar"):
        assert gone not in sent
    assert sent["url"] == "https://shop.example/cart?item=7"
    assert sent["urlref"] == "https://news.example/"
    assert sent["action_name"] == "Checkout"
    assert [value for key, value in hit.form() if key == "token_auth"] == ["server-side-token"]


def test_with_consent_the_visitor_id_and_user_id_pass(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        consent(client, all=True)
        image_request = [(k, v) for k, v in PAGE_VIEW if k != "send_image"]
        response = client.get(
            "/_consent/collect/matomo/matomo.php?" + urlencode(image_request), headers=HEADERS
        )
        assert response.status_code == 200
        assert response.content == PIXEL and response.headers["content-type"] == "image/gif"
        (hit,) = stand_in.wait_count(1)
    sent = hit.params
    assert sent["_id"] == "7a1b2c3d4e5f6a7b"
    assert sent["uid"] == "bob@example.org"  # the site's own user id, with consent
    assert sent["_idvc"] == "4"
    assert "gclid=Cj0" in sent["url"] and "token" not in sent["url"]
    assert sent["cip"] == "127.0.0.0"


def test_bulk_requests_become_one_hit_each(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    bulk = {
        "requests": [
            "?idsite=3&rec=1&url=https%3A%2F%2Fshop.example%2Fa&_id=7a1b2c3d4e5f6a7b",
            "?idsite=3&rec=1&e_c=video&e_a=play&url=https%3A%2F%2Fshop.example%2Fb",
        ],
        "token_auth": "a-token-from-the-browser",
    }
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        response = client.post("/_consent/collect/matomo/matomo.php", json=bulk, headers=HEADERS)
        assert response.json() == {"status": "success", "tracked": 2, "invalid": 0}
        received = stand_in.wait_count(2)
    urls = sorted(hit.params["url"] for hit in received)
    assert urls == ["https://shop.example/a", "https://shop.example/b"]
    assert {hit.params["token_auth"] for hit in received} == {"server-side-token"}
    assert len({hit.headers["idempotency-key"] for hit in received}) == 2


def test_free_text_with_an_email_address_is_not_forwarded(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    hit = [
        ("idsite", "3"), ("rec", "1"), ("url", "https://shop.example/account"),
        ("action_name", "Account of ann@mail.example"), ("e_c", "newsletter"),
        ("e_a", "subscribe"), ("e_n", "ann@mail.example"), ("search", "ann@mail.example"),
        ("dimension1", "ann@mail.example"), ("dimension2", "gold"),
    ]  # fmt: skip
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        client.get("/_consent/collect/matomo/matomo.php?" + urlencode(hit), headers=HEADERS)
        (received,) = stand_in.wait_count(1)
    sent = received.params
    for gone in ("action_name", "e_n", "search", "dimension1"):
        assert gone not in sent
    assert (sent["e_c"], sent["e_a"], sent["dimension2"]) == ("newsletter", "subscribe", "gold")
