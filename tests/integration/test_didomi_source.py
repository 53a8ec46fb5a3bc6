"""Didomi as a consent source: ``didomi_token`` as Didomi's SDK writes it and, beside it, a
TC string written by the IAB's own library (@iabtechlabtcf/core), decide what passes
through a real server; a token that does not read is no consent and the site still serves."""

from __future__ import annotations

import httpx
import pytest

from gateway.consent.adapters import build
from gateway.consent.state import Category, Source
from tests.consent.test_didomi import ANALYTICS_PURPOSES, IAB_PURPOSES, token
from tests.integration.test_consent_sources import set_cookie_names
from tests.integration.test_iab_sources import tc_string
from tests.support.apps import Gateway
from tests.support.servers import running

pytestmark = pytest.mark.slow  # the TC strings come from Node; the tests run a real server

E, P, A, M = Category.ESSENTIAL, Category.PREFERENCES, Category.ANALYTICS, Category.MARKETING
ANALYTICS_ONLY = token(["cookies", *ANALYTICS_PURPOSES], ["select_basic_ads", "create_ads_profile"])


def test_with_a_tc_string_the_visitor_gets_what_both_grant() -> None:
    source = build(["didomi"], {})

    def read(**cookies: str) -> tuple[frozenset[Category] | None, bool]:
        reading = source.read(source.values(cookies.items()))
        assert reading.source in (None, Source.DIDOMI)
        return reading.granted, reading.invalid

    tc_everything = tc_string(*range(1, 11))
    tc_analytics = tc_string(1, 7, 8, 9, 10)
    every = token(IAB_PURPOSES)
    assert read(didomi_token=every, **{"euconsent-v2": tc_analytics}) == ({E, A}, False)
    assert read(didomi_token=ANALYTICS_ONLY, **{"euconsent-v2": tc_everything}) == ({E, A}, False)
    assert read(didomi_token=every, **{"euconsent-v2": tc_everything}) == ({E, P, A, M}, False)
    assert read(**{"euconsent-v2": tc_analytics}) == ({E, A}, False)  # the TC string alone
    assert read(**{"euconsent-v2": tc_string(*range(2, 11))}) == ({E}, False)  # no purpose 1
    cut = tc_everything[:40]
    assert read(didomi_token=every, **{"euconsent-v2": cut}) == (None, True)


def test_a_didomi_choice_decides_set_cookie_through_the_server(make_gateway: Gateway) -> None:
    with (
        running(make_gateway(consent_source=["didomi"])) as base,
        httpx.Client(base_url=base) as client,
    ):
        assert set_cookie_names(client.get("/")) == {"sessionid"}  # opt-in, no choice yet

        client.cookies.set("didomi_token", ANALYTICS_ONLY, domain="127.0.0.1")
        assert set_cookie_names(client.get("/")) == {"sessionid", "_ga"}
        state = client.get("/_consent/state").json()
        assert (state["source"], state["decided"]) == ("didomi", True)
        assert state["categories"]["analytics"] and not state["categories"]["marketing"]

        no_storage = token(IAB_PURPOSES[1:], ["cookies"])
        client.cookies.set("didomi_token", no_storage, domain="127.0.0.1")
        assert set_cookie_names(client.get("/")) == {"sessionid"}

        client.cookies.set("didomi_token", token(IAB_PURPOSES), domain="127.0.0.1")
        client.cookies.set("euconsent-v2", tc_string(1, 7, 8, 9, 10), domain="127.0.0.1")
        assert set_cookie_names(client.get("/")) == {"sessionid", "_ga"}  # what both grant


def test_a_tampered_token_is_the_regime_default_and_the_site_still_serves(
    make_gateway: Gateway,
) -> None:
    with (
        running(make_gateway(consent_source=["didomi"])) as base,
        httpx.Client(base_url=base) as client,
    ):
        tampered = "f" + token(IAB_PURPOSES)[1:]
        client.cookies.set("didomi_token", tampered, domain="127.0.0.1")
        response = client.get("/")
        assert response.status_code == 200
        assert set_cookie_names(response) == {"sessionid"}
        state = client.get("/_consent/state").json()
        assert (state["source"], state["decided"]) == ("default", False)
        metrics = client.get("/_consent/metrics").text
        assert "consent_gateway_invalid_consent_cookies_total 3.0" in metrics  # 3 requests
