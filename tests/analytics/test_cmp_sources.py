"""Analytics under a consent source: the choice a site's CMP stored (Cookiebot's
``CookieConsent``, a TC string from the IAB's own library in ``euconsent-v2``) decides what
a real gateway forwards to a stand-in GA4 and Matomo, and GA4 hits carry the TC string the
gateway enforced, never the client's."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urlencode

import httpx
import pytest

from gateway import ConsentMiddleware
from tests.analytics.test_ga4 import GTAG_QUERY, post_gtag
from tests.analytics.test_matomo import HEADERS as MATOMO_HEADERS
from tests.analytics.test_matomo import PAGE_VIEW
from tests.integration.test_consent_sources import COOKIEBOT_ANALYTICS
from tests.integration.test_iab_sources import tc_string
from tests.support.providers import BROWSER_UA
from tests.support.servers import serving
from tests.support.standin import Received, StandIn

pytestmark = pytest.mark.slow  # every test runs a real server; TC strings come from Node

Gateway = Callable[..., ConsentMiddleware]
CLIENT_ID = dict(GTAG_QUERY)["cid"]
COOKIEBOT_NOTHING = quote(
    "{stamp:'abc==',necessary:true,preferences:false,statistics:false,marketing:false,"
    "method:'explicit',ver:1,utc:1700000000000,region:'de'}",
    safe="",
)
ANALYTICS_PURPOSES = (1, 7, 8, 9, 10)  # storage and measurement: analytics, not marketing


def gtag_hit(client: httpx.Client, **extra: str) -> httpx.Response:
    """A gtag page view claiming everything granted (``gcs=G111``), with ``extra``."""
    query = [(k, v) for k, v in GTAG_QUERY if k not in extra] + list(extra.items())
    return client.get(
        "/_consent/collect/ga4/g/collect?" + urlencode(query), headers={"user-agent": BROWSER_UA}
    )


def one_hit(stand_in: StandIn, path: str) -> Received:
    stand_in.wait_for(lambda received: any(hit.path == path for hit in received))
    return next(hit for hit in stand_in.received if hit.path == path)


def test_cookiebot_statistics_without_marketing_keeps_the_id_and_denies_ads(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    gateway = make_collecting_gateway(consent_source=["cookiebot"])
    with serving(gateway) as url, httpx.Client(base_url=url) as client:
        client.cookies.set("CookieConsent", COOKIEBOT_ANALYTICS, domain="127.0.0.1")
        # A TC string of the client's own: the gateway read no TC string, so it cannot pass.
        assert gtag_hit(client, gdpr="1", gdpr_consent=tc_string(*range(1, 11))).status_code == 204
        sent = one_hit(stand_in, "/g/collect").params
    assert sent["cid"] == CLIENT_ID
    assert sent["gcs"] == "G101"
    assert sent["gcd"] == "13q3v3q3q5"  # ad_storage, ad_user_data, ad_personalization denied
    assert sent["npa"] == "1"
    assert "gdpr" not in sent and "gdpr_consent" not in sent


def test_cookiebot_refusing_everything_makes_ga4_and_matomo_cookieless(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    gateway = make_collecting_gateway(consent_source=["cookiebot"])
    with serving(gateway) as url, httpx.Client(base_url=url) as client:
        client.cookies.set("CookieConsent", COOKIEBOT_NOTHING, domain="127.0.0.1")
        assert post_gtag(client).status_code == 204  # claims gcs=G111, npa=0
        response = client.post(
            "/_consent/collect/matomo/matomo.php",
            content=urlencode(PAGE_VIEW),
            headers={**MATOMO_HEADERS, "content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 204
        ga4 = one_hit(stand_in, "/g/collect").params
        matomo = one_hit(stand_in, "/matomo.php").params
    assert ga4["cid"] != CLIENT_ID and ga4["cid"].replace(".", "").isdigit()
    assert (ga4["gcs"], ga4["gcd"], ga4["npa"]) == ("G100", "13q3q3q3q5", "1")
    assert "uid" not in ga4 and "sid" not in ga4
    assert matomo["_id"] != dict(PAGE_VIEW)["_id"] and "uid" not in matomo


def test_a_tc_string_granting_analytics_is_forwarded_instead_of_the_clients(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    enforced = tc_string(*ANALYTICS_PURPOSES)
    claimed = tc_string(*range(1, 11))  # the client claims every purpose
    gateway = make_collecting_gateway(consent_source=["tcf"])
    with serving(gateway) as url, httpx.Client(base_url=url) as client:
        client.cookies.set("euconsent-v2", enforced, domain="127.0.0.1")
        assert gtag_hit(client, gdpr="0", gdpr_consent=claimed).status_code == 204
        sent = one_hit(stand_in, "/g/collect").params
    assert sent["cid"] == CLIENT_ID
    assert (sent["gcs"], sent["gcd"], sent["npa"]) == ("G101", "13q3v3q3q5", "1")
    assert sent["gdpr"] == "1"
    assert sent["gdpr_consent"] == enforced


def test_a_tc_string_refusing_everything_denies_what_the_client_claimed(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    refused = tc_string()
    gateway = make_collecting_gateway(consent_source=["tcf"])
    with serving(gateway) as url, httpx.Client(base_url=url) as client:
        client.cookies.set("euconsent-v2", refused, domain="127.0.0.1")
        gtag_hit(client, gcs="G111", gdpr_consent=tc_string(*range(1, 11)))
        sent = one_hit(stand_in, "/g/collect").params
    assert sent["cid"] != CLIENT_ID
    assert (sent["gcs"], sent["gcd"], sent["npa"]) == ("G100", "13q3q3q3q5", "1")
    assert (sent["gdpr"], sent["gdpr_consent"]) == ("1", refused)


def test_no_tc_string_leaves_when_gpc_refused_what_it_granted_or_when_it_does_not_read(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    everything = tc_string(*range(1, 11))
    gateway = make_collecting_gateway(consent_source=["tcf"])
    with serving(gateway) as url, httpx.Client(base_url=url) as client:
        client.cookies.set("euconsent-v2", everything, domain="127.0.0.1")
        gtag_hit(client, en="granted", gdpr_consent=everything)
        client.headers["sec-gpc"] = "1"
        gtag_hit(client, en="gpc")
        del client.headers["sec-gpc"]
        client.cookies.set("euconsent-v2", everything[:40], domain="127.0.0.1")  # cut short
        gtag_hit(client, en="cut", gdpr="1", gdpr_consent=everything)
        received = {hit.params["en"]: hit.params for hit in stand_in.wait_count(3)}
    assert received["granted"]["gdpr_consent"] == everything  # granted and enforced: passed on
    assert received["granted"]["gcs"] == "G111"
    gpc = received["gpc"]
    assert gpc["gcs"] == "G101" and "gdpr_consent" not in gpc and "gdpr" not in gpc
    cut = received["cut"]  # no consent: the regime's default
    assert cut["gcs"] == "G100" and "gdpr_consent" not in cut and "gdpr" not in cut


def test_an_anonymised_provider_gets_no_tc_string(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    everything = tc_string(*range(1, 11))
    gateway = make_collecting_gateway(
        consent_source=["tcf"],
        analytics={"ga4": {"upstream": stand_in.url, "anonymize": "always"}},
    )
    with serving(gateway) as url, httpx.Client(base_url=url) as client:
        client.cookies.set("euconsent-v2", everything, domain="127.0.0.1")
        gtag_hit(client, gdpr="1", gdpr_consent=everything)
        sent = one_hit(stand_in, "/g/collect").params
    assert sent["cid"] != CLIENT_ID and sent["gcs"] == "G100"
    assert "gdpr" not in sent and "gdpr_consent" not in sent and "_uip" not in sent
