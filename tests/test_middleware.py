"""ConsentMiddleware at the ASGI level: bad input, plumbing and edge cases."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from gateway import Category, ConsentMiddleware, Settings
from tests.support.apps import ORIGIN_HEADERS, SECRET, Gateway, client_for, echo_app


def set_cookie_names(response: httpx.Response) -> list[str]:
    return [line.split("=", 1)[0] for line in response.headers.get_list("set-cookie")]


def raw_set_cookie_app(*values: bytes) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/plain")] + [(b"set-cookie", v) for v in values]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def test_app_sees_consent_state_on_request_state(make_gateway: Gateway) -> None:
    async def page(request: Request) -> JSONResponse:
        consent = request.state.consent
        return JSONResponse({"analytics": consent.allows(Category.ANALYTICS)})

    app = Starlette(routes=[Route("/", page)])
    async with client_for(make_gateway(app)) as client:
        assert (await client.get("/")).json() == {"analytics": False}
        await client.post("/_consent/state", json={"all": True}, headers=ORIGIN_HEADERS)
        assert (await client.get("/")).json() == {"analytics": True}


async def test_refused_request_cookies_are_hidden_from_the_app(make_gateway: Gateway) -> None:
    async with client_for(make_gateway(echo_app())) as client:
        response = await client.get(
            "/", headers={"cookie": "_ga=1; sessionid=abc; _fbp=2; csrftoken=t"}
        )
    assert response.json()["names"] == ["sessionid", "csrftoken"]
    assert response.json()["cookie"] == "sessionid=abc; csrftoken=t"


async def test_duplicate_cookie_names_are_all_removed(make_gateway: Gateway) -> None:
    async with client_for(make_gateway(echo_app())) as client:
        response = await client.get("/", headers={"cookie": "_ga=1; sessionid=a; _ga=2; _ga=3"})
    assert response.json()["cookie"] == "sessionid=a"


async def test_a_16kb_cookie_header_is_filtered_not_refused(make_gateway: Gateway) -> None:
    junk = "; ".join(f"_ga_{i:05d}=" + "x" * 20 for i in range(600))
    header = f"sessionid=keep; {junk}"
    assert len(header) > 16_000
    async with client_for(make_gateway(echo_app())) as client:
        response = await client.get("/", headers={"cookie": header})
    assert response.status_code == 200
    assert response.json()["cookie"] == "sessionid=keep"
    assert len(response.headers.get_list("set-cookie")) < 100  # expiry is bounded


async def test_invalid_utf8_and_control_characters_in_cookies_do_not_break_anything(
    make_gateway: Gateway,
) -> None:
    raw = b"sessionid=\xff\xfe; _ga=\x01\x02; caf\xe9=\x7f; \xff\xff=1"
    app = make_gateway(echo_app())
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"cookie", raw)],
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
        "http_version": "1.1",
        "root_path": "",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    body = sent[1]["body"].decode()
    assert "_ga" not in body
    assert "sessionid" in body


async def test_malformed_set_cookie_from_the_app_is_dropped_and_never_crashes(
    make_gateway: Gateway,
) -> None:
    app = raw_set_cookie_app(
        b"sessionid=ok; Path=/",
        b"; Path=/",
        b"=",
        b"_ga=\x00nul",
        b"_fbp=1; Domain=.example.com; Expires=not a date; Max-Age=abc",
        b"\xff\xfe=\xff",
        b"__Secure-_ga=1; Secure",
        b"__Host-sessionid=1; Secure; Path=/",
    )
    async with client_for(make_gateway(app, unknown_cookies="deny")) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert set_cookie_names(response) == ["sessionid", "__Host-sessionid"]


async def test_set_cookie_is_filtered_in_every_header_case(make_gateway: Gateway) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"Set-Cookie", b"_ga=1"), (b"SET-COOKIE", b"_fbp=1"), (b"set-cookie", b"a=b")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async with client_for(make_gateway(app, unknown_cookies="allow")) as client:
        response = await client.get("/")
    assert set_cookie_names(response) == ["a"]
    assert "cookie" in response.headers["vary"].lower()


async def test_unknown_cookies_follow_the_setting(make_gateway: Gateway) -> None:
    async with client_for(make_gateway(echo_app(), unknown_cookies="deny")) as client:
        denied = await client.get("/", headers={"cookie": "mystery=1; sessionid=a"})
    assert denied.json()["names"] == ["sessionid"]
    async with client_for(make_gateway(echo_app(), unknown_cookies="analytics")) as client:
        client.cookies.set("mystery", "1")
        before = await client.get("/")
        await client.post("/_consent/state", json={"all": True}, headers=ORIGIN_HEADERS)
        client.cookies.set("mystery", "1")
        after = await client.get("/")
    assert before.json()["names"] == []
    assert "mystery" in after.json()["names"]


async def test_site_rules_override_the_built_in_ones(make_gateway: Gateway) -> None:
    rules = [{"name": "_ga", "category": "essential", "retention": "1y", "purpose": "ours"}]
    async with client_for(make_gateway(echo_app(), cookies=rules)) as client:
        response = await client.get("/", headers={"cookie": "_ga=1; _fbp=2"})
    assert response.json()["names"] == ["_ga"]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b'{"all": "yes"}', "application/json", 400),
        (b'{"categories": {"analytics": true, "tracking": true}}', "application/json", 400),
        (b'{"categories": {"essential": false}}', "application/json", 400),
        (b'{"categories": {"analytics": 1}}', "application/json", 400),
        (b"\xff\xfe\xfd", "application/json", 400),
        (b"all=maybe", "application/x-www-form-urlencoded", 400),
        (b"tracking=on", "application/x-www-form-urlencoded", 400),
        (b"all=\xff", "application/x-www-form-urlencoded", 400),
        (b"<xml/>", "application/xml", 415),
        (b'{"all": true}' + b" " * 5000, "application/json", 413),
    ],
)
async def test_bad_consent_posts_get_a_clear_client_error(
    make_gateway: Gateway, body: bytes, content_type: str, status: int
) -> None:
    async with client_for(make_gateway()) as client:
        response = await client.post(
            "/_consent/state",
            content=body,
            headers={**ORIGIN_HEADERS, "content-type": content_type},
        )
        assert response.status_code == status
        assert "error" in response.json()
        assert "cg_consent" not in response.headers.get("set-cookie", "")
        assert (await client.get("/_consent/state")).json()["decided"] is False


async def test_oversized_body_streamed_without_content_length_gets_413(
    make_gateway: Gateway,
) -> None:
    async def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 1000

    async with client_for(make_gateway()) as client:
        response = await client.post(
            "/_consent/state",
            content=chunks(),
            headers={**ORIGIN_HEADERS, "content-type": "application/json"},
        )
    assert response.status_code == 413


@pytest.mark.slow
@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
    ],
)
async def test_cross_site_consent_changes_are_refused(
    make_gateway: Gateway, headers: dict[str, str]
) -> None:
    async with client_for(make_gateway()) as client:
        posted = await client.post("/_consent/state", json={"all": True}, headers=headers)
        deleted = await client.delete("/_consent/state", headers=headers)
    assert posted.status_code == 403
    assert deleted.status_code == 403
    assert "set-cookie" not in posted.headers


async def test_configured_origin_may_use_the_api_with_cors(make_gateway: Gateway) -> None:
    gateway = make_gateway(allowed_origins=["https://shop.example"])
    async with client_for(gateway) as client:
        preflight = await client.options(
            "/_consent/state",
            headers={"origin": "https://shop.example", "access-control-request-method": "POST"},
        )
        posted = await client.post(
            "/_consent/state", json={"all": True}, headers={"origin": "https://shop.example"}
        )
    assert preflight.status_code == 204
    assert posted.status_code == 200
    assert posted.headers["access-control-allow-origin"] == "https://shop.example"


async def test_html_form_post_redirects_back_to_the_same_origin_page(
    make_gateway: Gateway,
) -> None:
    async with client_for(make_gateway()) as client:
        response = await client.post(
            "/_consent/state",
            data={"all": "accept"},
            headers={**ORIGIN_HEADERS, "referer": "http://testserver//evil.example/p?x=1"},
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/evil.example/p?x=1"
        foreign = await client.post(
            "/_consent/state",
            data={"analytics": "on"},
            headers={**ORIGIN_HEADERS, "referer": "https://other.example/page"},
        )
        assert foreign.headers["location"] == "/"
        state = (await client.get("/_consent/state")).json()
    assert state["categories"] == {
        "essential": True,
        "preferences": False,
        "analytics": True,
        "marketing": False,
    }


async def test_policy_version_change_asks_again(settings: Settings) -> None:
    first = ConsentMiddleware(echo_app(), settings)
    async with client_for(first) as client:
        await client.post("/_consent/state", json={"all": True}, headers=ORIGIN_HEADERS)
        cookie = client.cookies["cg_consent"]
    second = ConsentMiddleware(echo_app(), settings.model_copy(update={"policy_version": "2"}))
    async with client_for(second) as client:
        client.cookies.set("cg_consent", cookie)
        state = (await client.get("/_consent/state")).json()
    assert state["decided"] is False
    assert state["categories"]["analytics"] is False


async def test_rotated_secret_still_verifies_old_cookies(settings: Settings) -> None:
    old = ConsentMiddleware(echo_app(), settings)
    async with client_for(old) as client:
        await client.post("/_consent/state", json={"all": True}, headers=ORIGIN_HEADERS)
        cookie = client.cookies["cg_consent"]
    rotated = settings.model_copy(update={"secret": ["a-brand-new-secret-0123456789", SECRET]})
    dropped = settings.model_copy(update={"secret": ["a-brand-new-secret-0123456789"]})
    for chosen, decided in ((rotated, True), (dropped, False)):
        async with client_for(ConsentMiddleware(echo_app(), chosen)) as client:
            client.cookies.set("cg_consent", cookie)
            assert (await client.get("/_consent/state")).json()["decided"] is decided


async def test_consent_cookie_is_compact_and_safe(make_gateway: Gateway) -> None:
    async with client_for(make_gateway()) as client:
        response = await client.post("/_consent/state", json={"all": True}, headers=ORIGIN_HEADERS)
    line = next(v for v in response.headers.get_list("set-cookie") if v.startswith("cg_consent="))
    value = line.split(";", 1)[0].split("=", 1)[1]
    assert len(value) < 200
    attributes = line.lower()
    assert "path=/" in attributes
    assert "samesite=lax" in attributes
    assert "httponly" in attributes
    assert "max-age=15724800" in attributes  # 182 days


async def test_websocket_sees_only_granted_cookies_and_lifespan_passes_through(
    make_gateway: Gateway,
) -> None:
    seen: list[tuple[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["type"], dict(scope.get("headers", []))))
        message = await receive()
        seen.append(("message", message["type"]))

    gateway = make_gateway(app)
    scope = {
        "type": "websocket",
        "path": "/ws",
        "headers": [(b"host", b"testserver"), (b"cookie", b"_ga=1; sessionid=a")],
        "scheme": "ws",
        "client": ("127.0.0.1", 5000),
    }

    async def connect() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def lifespan_shutdown() -> dict[str, Any]:
        return {"type": "lifespan.shutdown"}

    async def ignore(message: Any) -> None:
        return None

    await gateway(scope, connect, ignore)
    await gateway({"type": "lifespan"}, lifespan_shutdown, ignore)
    assert seen[0] == ("websocket", {b"host": b"testserver", b"cookie": b"sessionid=a"})
    assert seen[1] == ("message", "websocket.connect")
    assert seen[3] == ("message", "lifespan.shutdown")


async def test_unknown_cookie_names_are_recorded_for_scan(make_gateway: Gateway) -> None:
    gateway = make_gateway(echo_app())
    async with client_for(gateway) as client:
        for _ in range(3):
            await client.get("/", headers={"cookie": "mystery_cookie=1; sessionid=a"})
    await gateway.aclose()
    found = {c.name: c.count for c in gateway.gateway.store.get().unknown_cookies()}
    assert found == {"mystery_cookie": 3}


@pytest.mark.slow
async def test_unknown_cookie_counts_are_written_while_the_gateway_runs(
    make_gateway: Gateway,
) -> None:
    gateway = make_gateway(echo_app())
    gateway.gateway.cookies.unknown_log.flush_interval = 0.05
    async with client_for(gateway) as client:
        await client.get("/", headers={"cookie": "mystery_cookie=1"})
        await asyncio.sleep(0.3)
        found = {c.name: c.count for c in gateway.gateway.store.get().unknown_cookies()}
        assert found == {"mystery_cookie": 1}
        await client.get("/", headers={"cookie": "mystery_cookie=1; other_mystery=2"})
        await asyncio.sleep(0.3)
        found = {c.name: c.count for c in gateway.gateway.store.get().unknown_cookies()}
        assert found == {"mystery_cookie": 2, "other_mystery": 1}
    await gateway.aclose()


async def test_cookies_split_over_several_cookie_headers_are_all_filtered(
    make_gateway: Gateway,
) -> None:
    """HTTP/2 clients may send one Cookie header per cookie."""
    seen: list[list[tuple[bytes, bytes]]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(list(scope["headers"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    gateway = make_gateway(app)
    cookies = [b"_ga=1", b"sessionid=a", b"_fbp=2", b"csrftoken=t"]
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(b"host", b"testserver")] + [(b"cookie", value) for value in cookies],
        "scheme": "http",
        "client": ("127.0.0.1", 5000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    await gateway(scope, receive, send)
    assert [value for name, value in seen[0] if name == b"cookie"] == [b"sessionid=a; csrftoken=t"]
    expired = [v for n, v in sent[0]["headers"] if n == b"set-cookie"]
    assert {line.split(b"=", 1)[0] for line in expired} == {b"_ga", b"_fbp"}
    await gateway.aclose()


async def test_non_granted_cookie_never_passes_in_a_plain_text_response(
    make_gateway: Gateway,
) -> None:
    async def page(request: Request) -> Response:
        response = PlainTextResponse("hi")
        response.set_cookie("_uetvid", "x")
        response.set_cookie("_gcl_au", "x")
        return response

    app = Starlette(routes=[Route("/", page)])
    async with client_for(make_gateway(app)) as client:
        response = await client.get("/")
    assert set_cookie_names(response) == []


async def test_repeated_identical_requests_count_every_removed_cookie(
    make_gateway: Gateway,
) -> None:
    """Work is remembered per header bytes; the counting must still happen per request."""
    gateway = make_gateway(raw_set_cookie_app(b"_ga=GA1.1.1.1; Path=/", b"sessionid=s; Path=/"))
    async with client_for(gateway) as client:
        for _ in range(3):
            response = await client.get("/", headers={"cookie": "_ga=GA1.1.1.1; sessionid=s"})
            lines = response.headers.get_list("set-cookie")
            assert lines[0] == "sessionid=s; Path=/"
            assert all(line.startswith("_ga=; Max-Age=0") for line in lines[1:])

    def removed(direction: str) -> float | None:
        labels = {"category": "analytics", "direction": direction}
        return gateway.gateway.metrics.registry.get_sample_value(
            "consent_gateway_cookies_removed_total", labels
        )

    assert removed("request") == 3
    assert removed("response") == 3
    assert removed("expired") == 3


@pytest.mark.parametrize(
    "place",
    [{"country_header": "CF-IPCountry"}, {"default_regime": "opt-out"}],  # by place, or not
)
async def test_the_same_cookie_header_follows_the_privacy_signal_of_each_request(
    make_gateway: Gateway, place: dict[str, str]
) -> None:
    gateway = make_gateway(echo_app(), **place)
    header = {
        "cookie": "_fbp=fb.1.2.3; _ga=GA1.1.1.1",
        "cf-ipcountry": "US",
        "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    }
    async with client_for(gateway) as client:
        for gpc, names in [(None, ["_fbp", "_ga"]), ("1", ["_ga"]), (None, ["_fbp", "_ga"])]:
            extra = {"sec-gpc": gpc} if gpc else {}
            response = await client.get("/", headers={**header, **extra})
            assert response.json()["names"] == names


async def test_the_same_cookie_header_is_judged_again_for_each_user_agent(
    make_gateway: Gateway,
) -> None:
    gateway = make_gateway(echo_app())
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    chrome = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    )
    googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    cookie = "sessionid=s; _ga=GA1.1.1.1"
    async with client_for(gateway) as client:
        for agent in [firefox, firefox, googlebot, chrome, googlebot, firefox]:
            response = await client.get("/", headers={"cookie": cookie, "user-agent": agent})
            assert response.json()["names"] == ["sessionid"]
    samples = {
        sample.labels["kind"]: sample.value
        for metric in gateway.gateway.metrics.registry.collect()
        if metric.name == "consent_gateway_bot_requests"
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    assert samples == {"search": 2}


async def test_a_remembered_decision_ends_when_its_cookie_expires(
    make_gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now)
    gateway = make_gateway(echo_app(), cookie_lifetime_days=1)
    async with client_for(gateway) as client:
        await client.post("/_consent/state", json={"all": True}, headers=ORIGIN_HEADERS)
        cookie = {"cookie": f"_ga=1; cg_consent={client.cookies['cg_consent']}"}
        assert (await client.get("/", headers=cookie)).json()["names"] == ["_ga", "cg_consent"]
        monkeypatch.setattr(time, "time", lambda: now + 86_400 + 60)
        response = await client.get("/", headers=cookie)
    assert response.json()["names"] == ["cg_consent"]


@pytest.mark.parametrize(
    ("app_vary", "expected"),
    [
        (None, ["Cookie"]),
        (b"Accept-Encoding", ["Accept-Encoding, Cookie"]),
        (b"accept-encoding, cookie", ["accept-encoding, cookie"]),
        (b"*", ["*"]),
    ],
)
async def test_vary_names_cookie_once_when_cookies_depend_on_consent(
    make_gateway: Gateway, app_vary: bytes | None, expected: list[str]
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"set-cookie", b"_ga=GA1.1.1.1; Path=/")]
        if app_vary is not None:
            headers.append((b"Vary", app_vary))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    async with client_for(make_gateway(app)) as client:
        response = await client.get("/")
    assert response.headers.get_list("vary") == expected
    assert "set-cookie" not in response.headers


async def test_an_app_sending_one_shared_message_serves_each_visitor_by_their_consent(
    make_gateway: Gateway,
) -> None:
    """Stripping a cookie for one visitor must not change what the app sends the next."""
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"set-cookie", b"_ga=GA1.1.1.1; Path=/")],
    }

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start)
        await send({"type": "http.response.body", "body": b"ok"})

    gateway = make_gateway(app)
    async with client_for(gateway) as refusing, client_for(gateway) as accepting:
        await accepting.post("/_consent/state", json={"all": True}, headers=ORIGIN_HEADERS)
        assert set_cookie_names(await refusing.get("/")) == []
        assert set_cookie_names(await accepting.get("/")) == ["_ga"]


async def test_remembered_responses_still_count_each_stripped_and_unknown_cookie(
    make_gateway: Gateway,
) -> None:
    """A visitor without refused cookies gets responses from the memo: counted every time."""
    gateway = make_gateway(raw_set_cookie_app(b"_ga=GA1.1.1.1; Path=/", b"mystery=1; Path=/"))
    async with client_for(gateway) as client:
        for _ in range(4):
            assert set_cookie_names(await client.get("/")) == ["mystery"]
            client.cookies.clear()  # the response side alone
    registry = gateway.gateway.metrics.registry
    labels = {"category": "analytics", "direction": "response"}
    assert registry.get_sample_value("consent_gateway_cookies_removed_total", labels) == 4
    assert registry.get_sample_value("consent_gateway_unknown_cookies_total") == 4


async def test_an_outer_middleware_changing_the_headers_does_not_change_the_next_response(
    make_gateway: Gateway,
) -> None:
    gateway = make_gateway(raw_set_cookie_app(b"sessionid=s; Path=/"))

    async def outer(scope: Any, receive: Any, send: Any) -> None:
        async def send_changed(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"].append((b"x-outer", b"1"))
                message["headers"][0] = (b"content-type", b"text/csv")
            await send(message)

        await gateway(scope, receive, send_changed)

    async with client_for(outer) as client:
        for _ in range(3):
            response = await client.get("/")
            assert response.headers.get_list("x-outer") == ["1"]
            assert response.headers["content-type"] == "text/csv"
            assert set_cookie_names(response) == ["sessionid"]
