"""PostHog capture (JSON, gzip-js, base64 forms) and Sentry envelopes through the gateway."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from gateway import ConsentMiddleware
from tests.support.providers import BROWSER_UA, SENTRY_KEY, consent, sentry_dsn
from tests.support.servers import serving
from tests.support.standin import StandIn

pytestmark = pytest.mark.slow  # every test runs a real server and a stand-in provider

Gateway = Callable[..., ConsentMiddleware]
TOKEN = "phc_test0123456789"


def posthog_event(name: str = "$pageview", **properties: Any) -> dict[str, Any]:
    # The shape posthog-js 1.x sends: uuid, event, properties with token and ids, timestamp.
    return {
        "uuid": str(uuid.uuid4()),
        "event": name,
        "properties": {
            "token": TOKEN,
            "distinct_id": "0193a8b2-person",
            "$device_id": "0193a8b2-device",
            "$session_id": "0193a8b2-session",
            "$window_id": "0193a8b2-window",
            "$current_url": "https://shop.example/?gclid=Cj0&ref=home&email=ann%40mail.example",
            "$referrer": "https://www.google.com/search?q=shoes",
            "$set_once": {"$initial_gclid": "Cj0", "$initial_os": "Linux"},
            "gclid": "Cj0",
            "$lib": "web",
            **properties,
        },
        "timestamp": "2026-12-01T20:00:00.000Z",
    }


def test_posthog_gzip_batch_without_consent_is_cookieless(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    events = [posthog_event(), posthog_event("$identify"), posthog_event("clicked")]
    body = gzip.compress(json.dumps(events).encode())
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        response = client.post(
            "/_consent/collect/posthog/e/?ip=0&_=1733080000000&ver=1.449.2&compression=gzip-js",
            content=body,
            headers={"content-type": "text/plain", "user-agent": BROWSER_UA},
        )
        assert response.json() == {"status": 1}
        stand_in.wait_for(lambda r: sum(len(h.json()["batch"]) for h in r) >= 2)
        received = list(stand_in.received)
    assert {hit.path for hit in received} == {"/batch/"}
    batch = [event for hit in received for event in hit.json()["batch"]]
    assert {event["event"] for event in batch} == {"$pageview", "clicked"}  # no $identify
    assert {event["uuid"] for event in batch} == {events[0]["uuid"], events[2]["uuid"]}
    assert received[0].json()["api_key"] == TOKEN
    first = batch[0]["properties"]
    assert first["distinct_id"].startswith("cg_")
    assert batch[1]["properties"]["distinct_id"] == first["distinct_id"]
    assert first["$process_person_profile"] is False
    for gone in ("$device_id", "$session_id", "$window_id", "$set_once", "gclid"):
        assert gone not in first
    assert first["$ip"] == "127.0.0.0"
    assert first["$current_url"] == "https://shop.example/?ref=home"
    assert first["$referrer"] == "https://www.google.com/"


def test_posthog_with_consent_keeps_ids_and_click_ids(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    event = posthog_event()
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        consent(client, all=True)
        client.post(
            "/_consent/collect/posthog/i/v0/e/", json=event, headers={"user-agent": BROWSER_UA}
        )
        (hit,) = stand_in.wait_count(1)
    properties = hit.json()["batch"][0]["properties"]
    assert properties["distinct_id"] == "0193a8b2-person"
    assert properties["$session_id"] == "0193a8b2-session"
    assert properties["gclid"] == "Cj0"
    assert properties["$set_once"]["$initial_gclid"] == "Cj0"
    assert properties["$ip"] == "127.0.0.0"
    assert "email" not in properties["$current_url"]


def test_posthog_beacon_base64_form_with_analytics_only_drops_click_ids(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    event = posthog_event("$pageleave")
    data = base64.b64encode(json.dumps(event).encode()).decode()
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        consent(client, analytics=True)
        client.post(
            "/_consent/collect/posthog/e/?compression=base64",
            content="data=" + quote(data),
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "user-agent": BROWSER_UA,
            },
        )
        (hit,) = stand_in.wait_count(1)
    properties = hit.json()["batch"][0]["properties"]
    assert properties["distinct_id"] == "0193a8b2-person"
    assert "gclid" not in properties
    assert "$initial_gclid" not in properties["$set_once"]
    assert properties["$set_once"]["$initial_os"] == "Linux"


def envelope(dsn: str, event: dict[str, Any], *extra: tuple[dict[str, Any], bytes]) -> bytes:
    event_id = event["event_id"]
    header = {"event_id": event_id, "sent_at": "2026-12-01T20:00:00.000Z", "dsn": dsn}
    payload = json.dumps(event).encode()
    lines = [json.dumps(header).encode(), json.dumps({"type": "event"}).encode(), payload]
    for item_header, item in extra:
        lines += [json.dumps({**item_header, "length": len(item)}).encode(), item]
    return b"\n".join(lines) + b"\n"


def sentry_event() -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "platform": "javascript",
        "exception": {"values": [{"type": "Error", "value": "boom"}]},
        "user": {"id": "42", "email": "ann@mail.example", "ip_address": "{{auto}}"},
        "request": {
            "url": "https://shop.example/account?token=abc&tab=orders",
            "cookies": {"sessionid": "s3cr3t"},
            "headers": {
                "User-Agent": BROWSER_UA,
                "Cookie": "sessionid=s3cr3t",
                "Authorization": "Bearer x",
                "Referer": "https://shop.example/login?password=x&next=a",
            },
        },
        "breadcrumbs": {
            "values": [{"category": "fetch", "data": {"url": "/api?apikey=k1&page=2"}}]
        },
    }


def test_sentry_envelopes_reach_the_dsn_host_scrubbed(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    event = sentry_event()
    replay = ({"type": "replay_recording"}, b'{"segment_id":0}\n[]')
    body = envelope(sentry_dsn(stand_in), event, replay)
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        response = client.post(
            "/_consent/collect/sentry/",
            content=body,
            headers={"content-type": "text/plain;charset=UTF-8", "user-agent": BROWSER_UA},
        )
        assert response.json() == {"id": event["event_id"]}
        (hit,) = stand_in.wait_count(1)
    assert hit.path == "/api/42/envelope/"
    lines = hit.body.split(b"\n")
    assert json.loads(lines[0])["dsn"] == sentry_dsn(stand_in)
    items = [json.loads(line) for line in lines[1:] if line]
    assert [item.get("type") for item in items[::2]] == ["event"]  # the replay stayed here
    sent = items[1]
    assert sent["user"] == {"ip_address": "127.0.0.0"}
    assert "cookies" not in sent["request"]
    assert sent["request"]["headers"] == {
        "User-Agent": BROWSER_UA,
        "Referer": "https://shop.example/login?next=a",
    }
    assert sent["request"]["url"] == "https://shop.example/account?tab=orders"
    assert sent["breadcrumbs"]["values"][0]["data"]["url"] == "/api?page=2"
    assert hit.headers["idempotency-key"] == event["event_id"]


def test_sentry_reduces_an_external_referer_to_its_origin(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    event = sentry_event()
    external = "https://mail.example/inbox/ann?folder=orders&q=ann%40mail.example"
    event["request"]["headers"]["Referer"] = external
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        client.post(
            "/_consent/collect/sentry/",
            content=envelope(sentry_dsn(stand_in), event),
            headers={"user-agent": BROWSER_UA},
        )
        (hit,) = stand_in.wait_count(1)
    sent = json.loads(hit.body.split(b"\n")[2])
    assert sent["request"]["headers"]["Referer"] == "https://mail.example/"


def test_sentry_refuses_envelopes_for_another_dsn(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    other = f"https://{SENTRY_KEY}@o0.ingest.sentry.example/7"
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        client.headers["user-agent"] = BROWSER_UA
        refused = client.post("/_consent/collect/sentry/", content=envelope(other, sentry_event()))
        missing = client.post("/_consent/collect/sentry/", content=b'{"event_id":"x"}\n')
        consent(client, all=True)
        client.post(
            "/_consent/collect/sentry/", content=envelope(sentry_dsn(stand_in), sentry_event())
        )
        (hit,) = stand_in.wait_count(1)
    assert refused.status_code == 403
    assert missing.status_code == 400
    sent = json.loads(hit.body.split(b"\n")[2])
    assert sent["user"] == {"id": "42", "email": "ann@mail.example", "ip_address": "127.0.0.0"}


def test_posthog_custom_properties_with_personal_data_are_not_forwarded(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    custom = {
        "email": "ann@mail.example",
        "phone": "+49 30 1234567",
        "name": "Ann Lee",
        "note": "reach me at ann@mail.example",
        "title": "Welcome, ann@mail.example",
        "plan": "pro",
        "$el_text": "ann@mail.example",
        "$lib_version": "1.449.2",
    }
    event = posthog_event("signup")
    event["properties"].update(custom)
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        consent(client, all=True)  # free text is scrubbed whatever the visitor chose
        client.post("/_consent/collect/posthog/e/", json=event, headers={"user-agent": BROWSER_UA})
        (hit,) = stand_in.wait_count(1)
    properties = hit.json()["batch"][0]["properties"]
    for gone in ("email", "phone", "name", "note", "title", "$el_text"):
        assert gone not in properties
    assert properties["plan"] == "pro" and properties["$lib_version"] == "1.449.2"
    assert properties["token"] == TOKEN and properties["distinct_id"] == "0193a8b2-person"


def test_sentry_messages_and_extra_data_with_an_email_address_are_not_forwarded(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    event = sentry_event()
    event["exception"]["values"][0]["value"] = "no account for ann@mail.example"
    event["message"] = "login failed for ann@mail.example"
    event["extra"] = {"contact": "ann@mail.example", "cart": 3}
    event["tags"] = {"email": "x", "release": "1.2"}
    with serving(make_collecting_gateway()) as url, httpx.Client(base_url=url) as client:
        client.post(
            "/_consent/collect/sentry/",
            content=envelope(sentry_dsn(stand_in), event),
            headers={"user-agent": BROWSER_UA},
        )
        (hit,) = stand_in.wait_count(1)
    sent = json.loads(hit.body.split(b"\n")[2])
    assert sent["exception"]["values"][0] == {"type": "Error"}
    assert "message" not in sent
    assert sent["extra"] == {"cart": 3} and sent["tags"] == {"release": "1.2"}


def test_sentry_anonymised_always_gets_no_person_and_no_address_even_with_consent(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    # A policy that says "error monitoring (anonymized)", without a condition.
    sentry = {"dsn": sentry_dsn(stand_in), "anonymize": "always"}
    event = sentry_event()
    event["user"] = {
        "id": "42",
        "username": "ann",
        "email": "ann@mail.example",
        "ip_address": "198.51.100.7",
    }
    event["sdk"] = {"name": "sentry.javascript.browser", "settings": {"infer_ip": "auto"}}
    session = json.dumps({"sid": uuid.uuid4().hex, "did": "customer-42", "status": "ok"})
    replay = ({"type": "replay_event"}, b"{}")
    body = envelope(sentry_dsn(stand_in), event, ({"type": "session"}, session.encode()), replay)
    gateway = make_collecting_gateway(analytics={"sentry": sentry})
    with serving(gateway) as url, httpx.Client(base_url=url) as client:
        client.headers["user-agent"] = BROWSER_UA
        consent(client, all=True)
        client.post("/_consent/collect/sentry/", content=body)
        (hit,) = stand_in.wait_count(1)
    items = [json.loads(line) for line in hit.body.split(b"\n")[1:] if line]
    assert [item["type"] for item in items[::2]] == ["event", "session"]  # no replay
    sent, sent_session = items[1], items[3]
    assert sent.get("user", {}) == {}
    assert sent["sdk"]["settings"]["infer_ip"] == "never"
    assert "did" not in sent_session
    assert "x-forwarded-for" not in hit.headers
    forwarded = hit.body.decode()
    assert "ip_address" not in forwarded and "198.51.100" not in forwarded


def test_posthog_anonymised_always_is_cookieless_for_a_visitor_who_consented(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    gateway = make_collecting_gateway(
        analytics={"posthog": {"upstream": stand_in.url, "anonymize": "always"}}
    )
    with serving(gateway) as url, httpx.Client(base_url=url) as client:
        consent(client, all=True)
        client.post(
            "/_consent/collect/posthog/e/", json=posthog_event(), headers={"user-agent": BROWSER_UA}
        )
        (hit,) = stand_in.wait_count(1)
    properties = hit.json()["batch"][0]["properties"]
    assert properties["distinct_id"].startswith("cg_")
    assert properties["$process_person_profile"] is False
    for gone in ("$device_id", "$session_id", "gclid", "$ip"):
        assert gone not in properties
    assert properties["$geoip_disable"] is True
