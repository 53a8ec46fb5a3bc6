"""A site's own CMP cookie, read by its adapter, decides what passes: through a real uvicorn
server and HTTP client, with the cookie as the CMP writes it."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from gateway import ConsentMiddleware
from tests.support.apps import Gateway
from tests.support.servers import running
from tests.support.set_cookies import expired_names
from tests.support.set_cookies import set_cookie_names as set_cookie_list

pytestmark = pytest.mark.slow  # every test runs a real server

COOKIEBOT_ANALYTICS = quote(
    "{stamp:'abc==',necessary:true,preferences:false,statistics:true,marketing:false,"
    "method:'explicit',ver:1,utc:1700000000000,region:'de'}",
    safe="",
)
COOKIEBOT_ALL = quote(
    "{stamp:'abc==',necessary:true,preferences:true,statistics:true,marketing:true,"
    "method:'explicit',ver:1,utc:1700000000000,region:'de'}",
    safe="",
)


def set_cookie_names(response: httpx.Response) -> set[str]:
    """Cookies the response sets (not the ones it expires)."""
    return set(set_cookie_list(response))


def test_cookiebot_choice_strips_the_marketing_cookie_and_keeps_ga(
    make_gateway: Gateway,
) -> None:
    gateway: ConsentMiddleware = make_gateway(consent_source=["cookiebot"])
    with running(gateway) as base, httpx.Client(base_url=base) as client:
        before = client.get("/")
        assert set_cookie_names(before) == {"sessionid"}
        assert client.get("/_consent/state").json()["source"] == "default"

        client.cookies.set("CookieConsent", COOKIEBOT_ANALYTICS, domain="127.0.0.1")
        after = client.get("/")
        assert set_cookie_names(after) == {"sessionid", "_ga"}
        state = client.get("/_consent/state").json()
        assert state["source"] == "cookiebot"
        assert state["decided"] is True
        assert state["categories"] == {
            "essential": True,
            "preferences": False,
            "analytics": True,
            "marketing": False,
        }

        client.cookies.set("CookieConsent", COOKIEBOT_ALL, domain="127.0.0.1")
        assert set_cookie_names(client.get("/")) == {"sessionid", "_ga", "_fbp"}


def test_withdrawn_in_the_cmp_expires_what_the_browser_still_holds(
    make_gateway: Gateway,
) -> None:
    with (
        running(make_gateway(consent_source="cookieconsent")) as base,
        httpx.Client(base_url=base) as client,
    ):
        accepted = {"categories": ["necessary", "analytics", "marketing"], "services": {}}
        client.cookies.set("cc_cookie", quote(json.dumps(accepted)), domain="127.0.0.1")
        client.get("/")
        assert {"_ga", "_fbp"} <= set(client.cookies.keys())
        assert client.get("/").json()["received"] == ["_fbp", "_ga", "cc_cookie", "sessionid"]

        rejected = {"categories": ["necessary"], "services": {"analytics": [], "ads": []}}
        client.cookies.set("cc_cookie", quote(json.dumps(rejected)), domain="127.0.0.1")
        response = client.get("/")
        assert response.json()["received"] == ["cc_cookie", "sessionid"]
        assert {"_ga", "_fbp"} <= expired_names(response)


def test_a_malformed_cmp_cookie_is_no_consent_and_counted(make_gateway: Gateway) -> None:
    with (
        running(make_gateway(consent_source=["onetrust"])) as base,
        httpx.Client(base_url=base) as client,
    ):
        client.cookies.set("OptanonConsent", "groups=C0002%3Ayes%2C", domain="127.0.0.1")
        response = client.get("/")
        assert response.status_code == 200
        assert set_cookie_names(response) == {"sessionid"}
        assert client.get("/_consent/state").json()["decided"] is False
        metrics = client.get("/_consent/metrics").text
        assert "consent_gateway_invalid_consent_cookies_total 3.0" in metrics
        assert 'consent_gateway_cache_misses_total{cache="cmp_choices"} 1.0' in metrics


GA4 = '<script async src="https://www.googletagmanager.com/gtag/js?id=G-X1Y2Z3"></script>'
PAGE = f"<!doctype html><html><head>{GA4}</head><body><p>Shop</p></body></html>"


async def _page(request: Request) -> HTMLResponse:
    response = HTMLResponse(PAGE)
    response.set_cookie("_ga", "GA1.1.123.456")
    return response


def test_trackers_follow_the_cmp_choice_and_no_banner_is_inserted(make_gateway: Gateway) -> None:
    app = Starlette(routes=[Route("/", _page)])
    with (
        running(make_gateway(app, consent_source=["klaro"], block_trackers="always")) as base,
        httpx.Client(base_url=base) as client,
    ):
        refused = client.get("/")
        assert 'type="text/plain"' in refused.text
        assert "googletagmanager" in refused.text
        assert "/_consent/banner" not in refused.text
        assert set_cookie_names(refused) == set()

        client.cookies.set("klaro", quote('{"matomo":true}'), domain="127.0.0.1")
        granted = client.get("/")
        assert granted.text == PAGE
        assert set_cookie_names(granted) == {"_ga"}


def test_with_an_adapter_the_gateway_cookie_is_not_read(make_gateway: Gateway) -> None:
    """A consent cookie the gateway signed (before the site moved to its own CMP, say) is
    valid, and still not read."""
    with running(make_gateway()) as before, httpx.Client(base_url=before) as client:
        client.post("/_consent/state", json={"all": True}, headers={"origin": before})
        accepted = client.cookies["cg_consent"]
    with (
        running(make_gateway(consent_source=["klaro"])) as base,
        httpx.Client(base_url=base) as client,
    ):
        client.cookies.set("cg_consent", accepted, domain="127.0.0.1")
        assert client.get("/_consent/state").json()["decided"] is False
        assert set_cookie_names(client.get("/")) == {"sessionid"}


def test_the_state_api_refuses_to_save_a_choice_no_adapter_would_read(
    make_gateway: Gateway,
) -> None:
    """With a CMP deciding, a choice saved in the gateway's own cookie would be ignored: the
    API says so (409) and records nothing, and reading the state still works."""
    gateway: ConsentMiddleware = make_gateway(consent_source=["cookiebot"])
    with running(gateway) as base, httpx.Client(base_url=base) as client:
        origin = {"origin": base}
        for method, body in (("POST", {"all": True}), ("DELETE", None)):
            answer = client.request(method, "/_consent/state", json=body, headers=origin)
            assert answer.status_code == 409
            assert "cookiebot" in answer.json()["error"]
            assert not answer.headers.get_list("set-cookie")
        assert client.get("/_consent/records", headers=origin).json()["records"] == []
        assert client.get("/_consent/state").json()["source"] == "default"


@pytest.mark.parametrize(
    ("source", "cookie", "value"),
    [
        ("cookiebot", "site_consent", COOKIEBOT_ANALYTICS),
        ("complianz", "site_cmplz_", "allow"),
    ],
)
def test_the_cmps_own_cookie_is_never_hidden_or_expired(
    make_gateway: Gateway, source: str, cookie: str, value: str
) -> None:
    """With unknown cookies denied, a CMP cookie under a name no rule knows (the site's own
    name, or Complianz's prefix) still reaches the app and stays in the browser: the gateway
    must not delete the choice it reads."""
    gateway = make_gateway(
        consent_source=[source],
        consent_adapters={source: {"cookie": cookie}},
        unknown_cookies="deny",
    )
    name = cookie + "statistics" if cookie.endswith("_") else cookie
    with running(gateway) as base, httpx.Client(base_url=base) as client:
        client.cookies.set(name, value, domain="127.0.0.1")
        response = client.get("/")
        assert name in response.json()["received"]
        assert name not in expired_names(response)
        assert client.get("/_consent/state").json()["source"] == source
