"""The promises of a privacy policy, checked through a real uvicorn server and HTTP client."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gateway import ConsentMiddleware
from gateway.consent.state import Regime
from tests.support.servers import running
from tests.support.set_cookies import expired_names, set_cookie_names

pytestmark = pytest.mark.slow  # every test runs a real server


def same_origin(base: str) -> dict[str, str]:
    return {"origin": base}


def test_analytics_cookie_removed_without_consent_and_kept_after_accept_all(
    make_gateway: Callable[..., ConsentMiddleware],
) -> None:
    with running(make_gateway()) as base, httpx.Client(base_url=base) as client:
        first = client.get("/")
        assert "_ga" not in set_cookie_names(first)
        assert "_fbp" not in set_cookie_names(first)
        assert "sessionid" in set_cookie_names(first)

        accepted = client.post("/_consent/state", json={"all": True}, headers=same_origin(base))
        assert accepted.status_code == 200
        assert accepted.json()["categories"]["analytics"] is True

        after = client.get("/")
        assert {"_ga", "_fbp", "sessionid"} <= set(set_cookie_names(after))
        assert {"_ga", "_fbp", "sessionid"} <= set(client.get("/").json()["received"])


def test_essential_session_cookie_kept_whatever_the_choice(
    make_gateway: Callable[..., ConsentMiddleware],
) -> None:
    with running(make_gateway()) as base, httpx.Client(base_url=base) as client:
        assert "sessionid" in set_cookie_names(client.get("/"))
        client.post("/_consent/state", json={"all": False}, headers=same_origin(base))
        response = client.get("/")
        assert "sessionid" in set_cookie_names(response)
        assert "sessionid" in response.json()["received"]


def test_withdrawing_expires_the_analytics_cookies_the_browser_still_sends(
    make_gateway: Callable[..., ConsentMiddleware],
) -> None:
    with running(make_gateway()) as base, httpx.Client(base_url=base) as client:
        client.post("/_consent/state", json={"all": True}, headers=same_origin(base))
        client.get("/")
        assert "_ga" in client.cookies

        withdrawn = client.delete("/_consent/state", headers=same_origin(base))
        assert withdrawn.status_code == 200
        assert withdrawn.json()["categories"]["analytics"] is False

        # A tag on the page could set _ga again in the browser; the gateway still clears it.
        client.cookies.set("_ga", "GA1.1.999.999", domain="127.0.0.1")
        response = client.get("/")
        assert "_ga" in expired_names(response)
        assert "_ga" not in response.json()["received"]
        assert "_ga" not in client.cookies
        assert "sessionid" in client.cookies


def test_global_privacy_control_from_an_opt_out_state_removes_marketing_cookies(
    make_gateway: Callable[..., ConsentMiddleware],
) -> None:
    gateway = make_gateway(country_header="CF-IPCountry", subdivision_header="CF-Region-Code")
    california = {"cf-ipcountry": "US", "cf-region-code": "CA"}
    with running(gateway) as base, httpx.Client(base_url=base) as client:
        without_gpc = client.get("/", headers=california)
        assert {"_ga", "_fbp"} <= set(set_cookie_names(without_gpc))

        with_gpc = client.get("/", headers={**california, "sec-gpc": "1"})
        assert "_fbp" not in set_cookie_names(with_gpc)
        assert "_fbp" in expired_names(with_gpc)  # the browser got it before GPC was on
        assert "_ga" in set_cookie_names(with_gpc)
        state = client.get("/_consent/state", headers={**california, "sec-gpc": "1"}).json()
        assert state["regime"] == Regime.OPT_OUT
        assert state["source"] == "gpc"
        assert state["categories"]["marketing"] is False


def test_tampered_consent_cookie_counts_as_no_consent(
    make_gateway: Callable[..., ConsentMiddleware],
) -> None:
    gateway = make_gateway()
    with running(gateway) as base, httpx.Client(base_url=base) as client:
        client.post("/_consent/state", json={"all": False}, headers=same_origin(base))
        refused = client.cookies["cg_consent"]
        consent_id, bits, rest = refused.split(".", 2)
        assert bits == "0"
        # The visitor edits "refuse everything" into "grant everything".
        client.cookies.clear()
        client.cookies.set("cg_consent", f"{consent_id}.7.{rest}", domain="127.0.0.1")

        response = client.get("/")
        assert "_ga" not in set_cookie_names(response)
        assert "_fbp" not in set_cookie_names(response)
        assert client.get("/_consent/state").json()["decided"] is False

        metrics = client.get("/_consent/metrics").text
        assert "consent_gateway_invalid_consent_cookies_total 3.0" in metrics


def test_decisions_are_recorded_as_proof_of_consent(
    make_gateway: Callable[..., ConsentMiddleware],
) -> None:
    gateway = make_gateway()
    with running(gateway) as base, httpx.Client(base_url=base) as client:
        chosen = {"categories": {"analytics": True, "marketing": False}}
        saved = client.post("/_consent/state", json=chosen, headers=same_origin(base)).json()
        client.delete("/_consent/state", headers=same_origin(base))
    history = gateway.gateway.store.get().consent_history(saved["consent_id"])
    assert [record.action for record in history] == ["grant", "withdraw"]
    assert history[0].categories == {
        "essential": True,
        "preferences": False,
        "analytics": True,
        "marketing": False,
    }
    assert history[1].categories["analytics"] is False
    assert history[0].regime == "opt-in"


async def _nameless_cookie(request: Request) -> PlainTextResponse:
    """Sets Google Analytics' cookie without a name: browsers send it back as ``_ga=...``."""
    response = PlainTextResponse("ok")
    response.raw_headers.append((b"set-cookie", b"=_ga=GA1.1.123.456; Path=/; Max-Age=63072000"))
    response.raw_headers.append((b"set-cookie", b"sessionid=s3ss10n; Path=/; HttpOnly"))
    return response


def test_a_nameless_set_cookie_is_classified_by_the_name_the_site_will_read(
    make_gateway: Callable[..., ConsentMiddleware],
) -> None:
    app = Starlette(routes=[Route("/", _nameless_cookie)])
    with running(make_gateway(app)) as base, httpx.Client(base_url=base) as client:
        client.post("/_consent/state", json={"all": False}, headers=same_origin(base))
        refused = client.get("/").headers.get_list("set-cookie")
        assert not [line for line in refused if "_ga=" in line]
        assert [line for line in refused if line.startswith("sessionid=")]

        chosen = {"categories": {"analytics": True}}
        client.post("/_consent/state", json=chosen, headers=same_origin(base))
        granted = client.get("/").headers.get_list("set-cookie")
        assert "=_ga=GA1.1.123.456; Path=/; Max-Age=63072000" in granted
