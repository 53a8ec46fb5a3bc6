"""The collection endpoints at the ASGI level: bad input is a clear 4xx that leaves the outbox
untouched, never a 500; bots and unknown paths; settings errors at start-up."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import ConsentMiddleware, Settings, SettingsError
from tests.support.apps import SECRET, cookie_app
from tests.support.providers import BROWSER_UA, provider_settings

ENDPOINTS = [
    ("POST", "/_consent/collect/ga4/g/collect?v=2&tid=G-1"),
    ("POST", "/_consent/collect/ga4/mp/collect?measurement_id=G-1"),
    ("POST", "/_consent/collect/matomo/matomo.php"),
    ("POST", "/_consent/collect/plausible/api/event"),
    ("POST", "/_consent/collect/umami/api/send"),
    ("POST", "/_consent/collect/posthog/e/?compression=gzip-js"),
    ("POST", "/_consent/collect/posthog/batch/"),
    ("POST", "/_consent/collect/sentry/"),
]


@pytest.fixture
def gateway(tmp_path: Path) -> ConsentMiddleware:
    settings = Settings.load(
        environ={},
        secret=SECRET,
        database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
        metrics=True,
        analytics={
            **provider_settings("http://127.0.0.1:9"),
            "plausible": {"upstream": "http://127.0.0.1:9", "body_limit": 2048},
        },
    )
    return ConsentMiddleware(cookie_app(), settings)


def call(
    gateway: ConsentMiddleware, method: str, path: str, body: bytes = b"", **headers: str
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.request(
                method, path, content=body, headers={"user-agent": BROWSER_UA, **headers}
            )
        # Stops a forwarder that an accepted hit started on this event loop.
        await gateway.gateway.collector.aclose() if gateway.gateway.collector else None
        return response

    return asyncio.run(go())


def outbox(gateway: ConsentMiddleware) -> int:
    return gateway.gateway.store.get().outbox_count()


@pytest.mark.slow
def test_unknown_providers_and_paths_are_404(gateway: ConsentMiddleware) -> None:
    for path in (
        "/_consent/collect/mixpanel/track",
        "/_consent/collect/ga4/collect",
        "/_consent/collect/plausible/api/event/../../admin",
        "/_consent/collect/",
    ):
        response = call(gateway, "POST", path, b"{}")
        assert response.status_code == 404, path
        assert "error" in response.json()
    assert call(gateway, "GET", "/_consent/collect/plausible/api/event").status_code == 404
    assert outbox(gateway) == 0


def test_a_body_over_the_limit_is_413_before_it_is_read(gateway: ConsentMiddleware) -> None:
    big = json.dumps({"n": "pageview", "u": "https://a.example/", "d": "a", "p": {"x": "y" * 3000}})
    response = call(gateway, "POST", "/_consent/collect/plausible/api/event", big.encode())
    assert response.status_code == 413
    assert response.json() == {"error": "the body may be at most 2048 bytes"}
    assert outbox(gateway) == 0


@pytest.mark.slow
def test_a_gzip_bomb_is_413(gateway: ConsentMiddleware) -> None:
    bomb = gzip.compress(b"[" + b" " * 20_000_000 + b"]")
    response = call(gateway, "POST", "/_consent/collect/posthog/e/?compression=gzip-js", bomb)
    assert response.status_code == 413
    assert outbox(gateway) == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/_consent/collect/plausible/api/event", b'{"n": "pageview", "u":', "not valid JSON"),
        ("/_consent/collect/plausible/api/event", b'{"n": "caf\xe9"}', "not valid UTF-8"),
        ("/_consent/collect/umami/api/send", b'{"type": "event"}', "payload"),
        ("/_consent/collect/posthog/e/?compression=gzip-js", b"\x1f\x8bnot gzip", "gzip"),
        ("/_consent/collect/posthog/e/", b'{"event": 5}', "event name"),
        ("/_consent/collect/sentry/", b"not json\n{}\n", "envelope header"),
        (
            "/_consent/collect/sentry/",
            b'{"dsn": "x"}\n{"type": "event", "length": 99}\n{}',
            "length",
        ),
        ("/_consent/collect/ga4/g/collect?v=2&tid=G-1&dl=%ff", b"", "UTF-8"),
        ("/_consent/collect/ga4/g/collect?v=2", b"", "tid"),
        ("/_consent/collect/matomo/matomo.php?rec=1", b"", "idsite"),
    ],
)
def test_malformed_input_is_a_clear_400(
    gateway: ConsentMiddleware, path: str, body: bytes, message: str
) -> None:
    response = call(gateway, "POST", path, body, **{"content-type": "text/plain"})
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert outbox(gateway) == 0


def test_bots_are_answered_but_never_stored(gateway: ConsentMiddleware) -> None:
    event = json.dumps({"n": "pageview", "u": "https://a.example/", "d": "a.example"}).encode()
    for agent in ("Googlebot/2.1 (+http://www.google.com/bot.html)", "python-requests/2.32", ""):
        response = call(
            gateway, "POST", "/_consent/collect/plausible/api/event", event, **{"user-agent": agent}
        )
        assert response.status_code == 204
    assert outbox(gateway) == 0
    metrics = call(gateway, "GET", "/_consent/metrics").text
    assert (
        'consent_gateway_analytics_hits_total{decision="bot",provider="plausible"} 3.0' in metrics
    )


@pytest.mark.slow
def test_a_valid_hit_is_in_the_outbox_when_the_client_gets_its_answer(
    gateway: ConsentMiddleware,
) -> None:
    event = json.dumps({"n": "pageview", "u": "https://a.example/", "d": "a.example"}).encode()

    async def go() -> tuple[int, int]:
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.post(
                "/_consent/collect/plausible/api/event",
                content=event,
                headers={"user-agent": BROWSER_UA},
            )
            stored = outbox(gateway)
            await gateway.aclose()
            return response.status_code, stored

    assert asyncio.run(go()) == (202, 1)


def test_site_ids_limit_what_is_collected(tmp_path: Path) -> None:
    gateway = ConsentMiddleware(
        cookie_app(),
        Settings.load(
            environ={},
            secret=SECRET,
            database_url=f"sqlite:///{tmp_path / 'g.db'}",
            analytics={"plausible": {"upstream": "http://127.0.0.1:9", "site_ids": ["a.example"]}},
        ),
    )
    event = json.dumps({"n": "pageview", "u": "https://b.example/", "d": "b.example"}).encode()
    response = call(gateway, "POST", "/_consent/collect/plausible/api/event", event)
    assert response.status_code == 403
    assert outbox(gateway) == 0


@pytest.mark.slow
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=8), inner, max_size=4)
            ),
            max_leaves=12,
        ).map(lambda value: json.dumps(value).encode()),
    ),
)
def test_no_input_makes_a_500(
    gateway: ConsentMiddleware, endpoint: tuple[str, str], body: bytes
) -> None:
    method, path = endpoint
    before = outbox(gateway)
    response = call(gateway, method, path, body, **{"content-type": "text/plain"})
    assert response.status_code < 500
    if response.status_code >= 400:
        assert "error" in response.json()
        assert outbox(gateway) == before


@pytest.mark.parametrize(
    ("analytics", "message"),
    [
        ({"matomo": {}}, "analytics.matomo.upstream"),
        ({"ga4": {"upstream": "ftp://x"}}, "not an http(s) URL"),
        ({"sentry": {"dsn": "https://sentry.example/42"}}, "not a DSN"),
        ({"plausible": {"mode": "maybe"}}, "analytics.plausible.mode"),
        ({"ipv4_prefix": 33}, "analytics.ipv4_prefix"),
        ({"segment": {}}, "analytics.segment"),
    ],
)
def test_bad_analytics_settings_name_the_key(analytics: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace(".", r"\.").replace("(s)", r"\(s\)")):
        Settings.load(environ={}, secret=SECRET, analytics=analytics)


def test_trusted_proxies_must_be_addresses() -> None:
    with pytest.raises(SettingsError, match="trusted_proxies"):
        Settings.load(environ={}, trusted_proxies=["proxy.internal"])
    env = {"CONSENT_GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1"}
    assert Settings.load(environ=env).trusted_proxies == ["10.0.0.0/8", "192.0.2.1"]


def test_analytics_from_a_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        "[analytics]\nipv4_prefix = 16\n[analytics.matomo]\n"
        'upstream = "https://matomo.example/matomo.php"\ntoken_auth = "t"\nmode = "drop"\n'
    )
    loaded = Settings.load(path, environ={})
    assert loaded.analytics.ipv4_prefix == 16
    assert loaded.analytics.matomo is not None and loaded.analytics.matomo.mode == "drop"
    assert list(loaded.analytics.providers()) == ["matomo"]


def test_an_unreachable_store_is_503_and_never_a_2xx() -> None:
    settings = Settings.load(
        environ={},
        secret=SECRET,
        database_url="postgresql://postgres@127.0.0.1:1/test",  # nothing listens there
        analytics={"plausible": {"upstream": "http://127.0.0.1:9"}},
    )
    gateway = ConsentMiddleware(cookie_app(), settings)
    event = json.dumps({"n": "pageview", "u": "https://a.example/", "d": "a.example"}).encode()
    response = call(gateway, "POST", "/_consent/collect/plausible/api/event", event)
    assert response.status_code == 503
    assert response.json() == {"error": "the hit could not be stored; please retry"}
