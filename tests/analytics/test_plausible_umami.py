"""Plausible's /api/event and Umami's /api/send through the gateway."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from gateway import ConsentMiddleware
from tests.support.providers import BROWSER_UA, consent
from tests.support.servers import serving
from tests.support.standin import StandIn

pytestmark = pytest.mark.slow  # every test runs a real server and a stand-in provider

Gateway = Callable[..., ConsentMiddleware]
HEADERS = {"user-agent": BROWSER_UA, "content-type": "text/plain"}


def plausible_event(**extra: object) -> bytes:
    # The keys @plausible-analytics/tracker 0.4 sends (plausible.js: n, v, u, d, r, p).
    event = {
        "n": "pageview",
        "v": 36,
        "u": "https://shop.example/welcome?email=ann%40mail.example&fbclid=IwAR0&ref=nl",
        "d": "shop.example",
        "r": "https://news.example/article?id=5&session=abc",
        "p": {"plan": "pro", "contact": "ann@mail.example"},
        **extra,
    }
    return json.dumps(event).encode()


def test_plausible_gets_the_truncated_ip_and_scrubbed_urls(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        response = client.post(
            "/_consent/collect/plausible/api/event", content=plausible_event(), headers=HEADERS
        )
        assert (response.status_code, response.text) == (202, "ok")
        (hit,) = stand_in.wait_count(1)
    assert hit.path == "/api/event"
    assert hit.headers["x-forwarded-for"] == "127.0.0.0"
    assert hit.headers["user-agent"] == BROWSER_UA
    sent = hit.json()
    assert sent["u"] == "https://shop.example/welcome?ref=nl"
    assert sent["r"] == "https://news.example/"
    assert sent["p"] == {"plan": "pro"}
    assert sent["n"] == "pageview" and sent["d"] == "shop.example"


def test_plausible_keeps_click_ids_with_marketing_consent(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        consent(client, all=True)
        client.post(
            "/_consent/collect/plausible/api/event", content=plausible_event(), headers=HEADERS
        )
        (hit,) = stand_in.wait_count(1)
    assert hit.json()["u"] == "https://shop.example/welcome?fbclid=IwAR0&ref=nl"


def test_plausible_in_drop_mode_forwards_nothing_without_consent(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    gateway = make_collecting_gateway(
        analytics={"plausible": {"upstream": stand_in.url, "mode": "drop"}}
    )
    with serving(gateway) as url, httpx.Client(base_url=url) as client:
        first = client.post(
            "/_consent/collect/plausible/api/event", content=plausible_event(), headers=HEADERS
        )
        consent(client, analytics=True)
        client.post(
            "/_consent/collect/plausible/api/event",
            content=plausible_event(n="signup"),
            headers=HEADERS,
        )
        (hit,) = stand_in.wait_count(1)
        metrics = client.get("/_consent/metrics").text
    assert first.status_code == 202  # answered like Plausible, but not forwarded
    assert hit.json()["n"] == "signup"
    assert (
        'consent_gateway_analytics_hits_total{decision="no_consent",provider="plausible"} 1.0'
        in metrics
    )


UMAMI_EVENT = {
    "type": "event",
    "payload": {
        "website": "4fb7fa4c-5b46-438d-94b3-3a8fb9bc2e8b",
        "hostname": "shop.example",
        "screen": "1920x1080",
        "language": "en-US",
        "title": "Welcome",
        "url": "/welcome?password=hunter2&utm_source=mail",
        "referrer": "https://mail.example/inbox?user=ann",
        "id": "customer-42",
        "name": "signup",
        "data": {"plan": "pro", "email": "ann@mail.example"},
    },
}


def test_umami_without_consent_loses_the_distinct_id_and_identify_calls(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    identify = {"type": "identify", "payload": {**UMAMI_EVENT["payload"], "data": {"n": 1}}}
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        client.headers.update({"user-agent": BROWSER_UA, "x-umami-cache": "signed.session"})
        assert client.post("/_consent/collect/umami/api/send", json=identify).status_code == 200
        assert client.post("/_consent/collect/umami/api/send", json=UMAMI_EVENT).json() == {}
        (hit,) = stand_in.wait_count(1)
    assert hit.path == "/api/send"
    assert hit.headers["x-forwarded-for"] == "127.0.0.0"
    assert "x-umami-cache" not in hit.headers
    sent = hit.json()
    assert sent["type"] == "event"
    assert "id" not in sent["payload"]
    assert sent["payload"]["url"] == "/welcome?utm_source=mail"
    assert sent["payload"]["referrer"] == "https://mail.example/"
    assert sent["payload"]["data"] == {"plan": "pro"}


def test_umami_with_consent_keeps_the_distinct_id(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        consent(client, analytics=True)
        client.post(
            "/_consent/collect/umami/api/send",
            json=UMAMI_EVENT,
            headers={"user-agent": BROWSER_UA},
        )
        (hit,) = stand_in.wait_count(1)
    assert hit.json()["payload"]["id"] == "customer-42"


def test_umami_title_and_tag_with_an_email_address_are_not_forwarded(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    payload = {**UMAMI_EVENT["payload"], "title": "Hello ann@mail.example", "tag": "beta"}
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        client.post(
            "/_consent/collect/umami/api/send",
            json={"type": "event", "payload": payload},
            headers={"user-agent": BROWSER_UA},
        )
        (hit,) = stand_in.wait_count(1)
    sent = hit.json()["payload"]
    assert "title" not in sent and sent["tag"] == "beta"
