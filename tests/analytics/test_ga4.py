"""GA4 through the gateway to a stand-in: gtag's /g/collect hits and the Measurement Protocol,
per consent state. The /g/collect fixtures follow the hit format gtag.js sends (documented
parameters: v, tid, gtm, _p, gcs, gcd, npa, cid, ul, sr, the uaa..uaw client hints, sid, sct,
seg, dl, dr, dt, en, _et, ep.*, epn.*, up.*; several events in a POST body, one per line)."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from gateway import ConsentMiddleware
from gateway.analytics.base import Visitor
from gateway.analytics.providers.ga4 import consent_signals
from tests.support.providers import BROWSER_UA, consent
from tests.support.servers import serving
from tests.support.standin import Received, StandIn

pytestmark = pytest.mark.slow  # every test runs a real server and a stand-in provider

Gateway = Callable[..., ConsentMiddleware]

PAGE = "https://shop.example/checkout?step=2&email=ann%40mail.example&gclid=Cj0KCQiA&utm_source=ads"
GTAG_QUERY = [
    ("v", "2"), ("tid", "G-TEST12345"), ("gtm", "45je4bk0v9183814112za200"),
    ("_p", "1733090000000"), ("gcs", "G111"), ("gcd", "13v3v3v3v5"), ("npa", "0"),
    ("dma", "0"), ("cid", "1185021398.1733090000"), ("ul", "en-us"), ("sr", "1920x1080"),
    ("uaa", "x86"), ("uab", "64"), ("uafvl", "Chromium;131.0.6778.85"), ("uamb", "0"),
    ("uap", "Linux"), ("uapv", "6.5.0"), ("uaw", "0"), ("are", "1"), ("frm", "0"),
    ("pscdl", "noapi"), ("_s", "1"), ("sid", "1733090000"), ("sct", "3"), ("seg", "1"),
    ("dl", PAGE), ("dr", "https://www.google.com/search?q=red+shoes"), ("dt", "Checkout"),
    ("en", "page_view"), ("_fv", "1"), ("_ss", "1"), ("uid", "customer-42"),
    ("up.plan", "pro"), ("em", "tv.1~em.3b1fc5a2d6c0f4a1"), ("tfd", "1200"),
]  # fmt: skip
GTAG_EVENTS = [
    "en=scroll&ep.percent_scrolled=90&_et=1200",
    "en=purchase&ep.transaction_id=T-1001&epn.value=49.9&ep.customer_email=ann%40mail.example",
]


def post_gtag(client: httpx.Client) -> httpx.Response:
    return client.post(
        "/_consent/collect/ga4/g/collect?" + urlencode(GTAG_QUERY),
        content="\r\n".join(GTAG_EVENTS),
        headers={"content-type": "text/plain;charset=UTF-8", "user-agent": BROWSER_UA},
    )


def events_of(hit: Received) -> list[dict[str, str]]:
    return [dict(parse_qsl(line)) for line in hit.body.decode().split("\r\n") if line]


def test_without_consent_gtag_hits_are_cookieless_and_say_so(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        assert post_gtag(client).status_code == 204
        assert post_gtag(client).status_code == 204
        first, second = stand_in.wait_count(2)
    sent = first.params
    assert first.path == "/g/collect"
    assert re.fullmatch(r"\d+\.\d+", sent["cid"]) and sent["cid"] != "1185021398.1733090000"
    assert second.params["cid"] == sent["cid"]  # the same visitor today, without a cookie
    for gone in ("uid", "sid", "sct", "up.plan", "em"):
        assert gone not in sent
    assert sent["gcs"] == "G100"
    assert sent["gcd"] == "13q3q3q3q5"
    assert sent["npa"] == "1"
    assert sent["_uip"] == "127.0.0.0"
    assert sent["dl"] == "https://shop.example/checkout?step=2&utm_source=ads"
    assert sent["dr"] == "https://www.google.com/"
    scroll, purchase = events_of(first)
    assert scroll == {"en": "scroll", "ep.percent_scrolled": "90", "_et": "1200"}
    assert "ep.customer_email" not in purchase
    assert purchase["ep.transaction_id"] == "T-1001"
    assert "user-agent" in first.headers and "cookie" not in first.headers


def test_with_full_consent_ids_and_click_ids_pass_but_never_the_full_ip(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        consent(client, all=True)
        post_gtag(client)
        (hit,) = stand_in.wait_count(1)
    sent = hit.params
    assert sent["cid"] == "1185021398.1733090000"
    assert sent["uid"] == "customer-42"
    assert sent["sid"] == "1733090000"
    assert sent["up.plan"] == "pro"
    assert sent["em"].startswith("tv.1~em.")
    assert sent["gcs"] == "G111"
    assert sent["gcd"] == "13v3v3v3v5"
    assert sent["npa"] == "0"
    assert "gclid=Cj0KCQiA" in sent["dl"] and "email" not in sent["dl"]
    assert sent["_uip"] == "127.0.0.0"


def test_analytics_without_marketing_keeps_the_client_id_but_not_click_ids(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        consent(client, analytics=True)
        post_gtag(client)
        (hit,) = stand_in.wait_count(1)
    sent = hit.params
    assert sent["cid"] == "1185021398.1733090000"
    assert "gclid" not in sent["dl"]
    assert "em" not in sent
    assert sent["gcs"] == "G101"
    assert sent["gcd"] == "13q3v3q3q5"
    assert sent["npa"] == "1"


def test_global_privacy_control_refuses_marketing_even_after_accept_all(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        consent(client, all=True)
        client.headers["sec-gpc"] = "1"
        post_gtag(client)
        (hit,) = stand_in.wait_count(1)
    assert hit.params["gcs"] == "G101"
    assert "gclid" not in hit.params["dl"]
    assert hit.params["cid"] == "1185021398.1733090000"


def test_forwarded_for_is_believed_only_from_trusted_proxies(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    headers = {"x-forwarded-for": "198.51.100.23, 203.0.113.77", "user-agent": BROWSER_UA}
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        client.get("/_consent/collect/ga4/g/collect?v=2&tid=G-X&cid=1.2&en=a", headers=headers)
    with serving(make_collecting_gateway(trusted_proxies=["127.0.0.1"])) as url:
        httpx.get(url + "/_consent/collect/ga4/g/collect?v=2&tid=G-X&cid=1.2&en=b", headers=headers)
        spoofed, trusted = stand_in.wait_count(2)
    assert spoofed.params["_uip"] == "127.0.0.0"  # a visitor cannot choose their address
    assert trusted.params["_uip"] == "203.0.113.0"  # the first untrusted hop from the right


def test_forwarded_for_hops_with_ports_are_two_visitors(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    # Azure Application Gateway writes "address:port"; IPv6 proxies "[address]:port".
    hops = ["198.51.100.77:4711", "[2001:db8:1:2::1]:4711"]
    with serving(make_collecting_gateway(trusted_proxies=["127.0.0.1"])) as url:
        for hop in hops:
            httpx.get(
                url + "/_consent/collect/ga4/g/collect?v=2&tid=G-X&cid=1.2&en=page_view",
                headers={"x-forwarded-for": hop, "user-agent": BROWSER_UA},
            )
        received = stand_in.wait_count(2)
    assert sorted(hit.params.get("_uip", "") for hit in received) == [
        "198.51.100.0",
        "2001:db8:1::",
    ]
    assert len({hit.params["cid"] for hit in received}) == 2  # not one cookieless id for both


def test_measurement_protocol_uses_the_server_secret_and_denies_ad_signals(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    body = {
        "client_id": "1185021398.1733090000",
        "user_id": "customer-42",
        "ip_override": "203.0.113.77",
        "user_properties": {"plan": {"value": "pro"}},
        "user_data": {"sha256_email_address": ["a" * 64]},
        "consent": {"ad_user_data": "GRANTED", "ad_personalization": "GRANTED"},
        "events": [
            {
                "name": "purchase",
                "params": {
                    "session_id": "1733090000",
                    "page_location": PAGE,
                    "gclid": "Cj0KCQiA",
                    "value": 49.9,
                },
            }
        ],
    }
    query = "measurement_id=G-TEST12345&api_secret=secret-from-a-browser"
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        # A backend calling the MP endpoint passes on the visitor's User-Agent (and Cookie).
        response = client.post(
            f"/_consent/collect/ga4/mp/collect?{query}",
            json=body,
            headers={"user-agent": BROWSER_UA},
        )
        assert response.status_code == 204
        (hit,) = stand_in.wait_count(1)
    assert hit.path == "/mp/collect"
    assert dict(hit.query) == {"measurement_id": "G-TEST12345", "api_secret": "server-side-secret"}
    sent = hit.json()
    assert sent["ip_override"] == "203.0.113.0"
    assert sent["consent"] == {"ad_user_data": "DENIED", "ad_personalization": "DENIED"}
    assert sent["non_personalized_ads"] is True
    assert "user_data" not in sent and "user_id" not in sent and "user_properties" not in sent
    assert sent["client_id"] != body["client_id"]
    params = sent["events"][0]["params"]
    assert "session_id" not in params and "gclid" not in params
    assert params["page_location"] == "https://shop.example/checkout?step=2&utm_source=ads"
    assert isinstance(sent["timestamp_micros"], int)


def test_consent_signals_are_only_ever_downgraded() -> None:
    def visitor(analytics: bool, marketing: bool) -> Visitor:
        return Visitor("1.2.3.0", "ua", "ua", None, analytics, marketing, b"s")

    assert consent_signals("G100", "13p3p3p3p5", visitor(True, True)) == {
        "gcs": "G100",
        "gcd": "13p3p3p3p5",
    }
    assert consent_signals(None, None, visitor(True, True)) == {"gcs": "G111", "gcd": None}
    assert consent_signals(None, None, visitor(False, False))["gcd"] == "11q1q1q1q5"
    assert consent_signals("G111", "13r3t3n3v5", visitor(True, False))["gcd"] == "13q3t3q3q5"


def test_free_text_with_an_email_address_is_not_forwarded(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    query = [
        ("v", "2"), ("tid", "G-TEST12345"), ("cid", "1.2"), ("en", "page_view"),
        ("dl", "https://shop.example/account"), ("dt", "Orders of ann@mail.example"),
        ("ep.note", "call ann@mail.example"), ("ep.phone", "+49 30 1234567"),
        ("ep.name", "Ann Lee"), ("ep.coupon", "WINTER"), ("up.plan", "pro"),
    ]  # fmt: skip
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        client.headers["user-agent"] = BROWSER_UA
        consent(client, all=True)  # free text is scrubbed whatever the visitor chose
        client.get("/_consent/collect/ga4/g/collect?" + urlencode(query))
        (hit,) = stand_in.wait_count(1)
    sent = hit.params
    for gone in ("dt", "ep.note", "ep.phone", "ep.name"):
        assert gone not in sent
    assert sent["ep.coupon"] == "WINTER" and sent["up.plan"] == "pro"


def test_measurement_protocol_scrubs_the_page_like_gtag_and_keeps_the_session_with_consent(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    page = "https://shop.example/checkout?step=2&email=ann@mail.example"
    body = {
        "client_id": "1185021398.1733090000",
        "user_properties": {"plan": {"value": "pro"}, "email": {"value": "x"}},
        "events": [
            {
                "name": "page_view",
                "params": {
                    "session_id": "1733090000",
                    "page_location": page,
                    "page_title": "Welcome ann@mail.example",
                    "search_term": "boots",
                },
            }
        ],
    }
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        client.headers["user-agent"] = BROWSER_UA
        consent(client, all=True)
        client.post("/_consent/collect/ga4/mp/collect?measurement_id=G-TEST12345", json=body)
        client.get(
            "/_consent/collect/ga4/g/collect?"
            + urlencode({"v": "2", "tid": "G-TEST12345", "cid": "1.2", "en": "a", "dl": page})
        )
        received = stand_in.wait_count(2)
    mp = next(hit for hit in received if hit.path == "/mp/collect").json()
    gtag = next(hit for hit in received if hit.path == "/g/collect").params
    params = mp["events"][0]["params"]
    assert params["page_location"] == gtag["dl"] == "https://shop.example/checkout?step=2"
    assert "page_title" not in params and params["search_term"] == "boots"
    assert params["session_id"] == "1733090000"  # GA's session number, with consent
    assert mp["user_properties"] == {"plan": {"value": "pro"}}
