"""The consent adapters read each CMP's cookie as its vendor documents it, and a value that
does not read is no choice, never an error other than ``ValueError``."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.consent.adapters import ADAPTERS, NO_CHOICE, ConsentSource, build
from gateway.consent.adapters.base import SiteTable, config, grants
from gateway.consent.state import Category, Source
from gateway.settings import RULES_MAPPED_ADAPTERS

E, P, A, M = Category.ESSENTIAL, Category.PREFERENCES, Category.ANALYTICS, Category.MARKETING


def read(name: str, **cookies: str) -> frozenset[Category] | None:
    """What adapter ``name`` with its built-in configuration reads from ``cookies``."""
    source = build([name], {})
    reading = source.read(source.values(cookies.items()))
    assert not reading.invalid
    assert reading.source in (None, Source(name))
    return reading.granted


def refused(name: str, **cookies: str) -> bool:
    """Whether adapter ``name`` finds ``cookies`` unreadable (counted, no choice)."""
    source = build([name], {})
    reading = source.read(source.values(cookies.items()))
    return reading.granted is None and reading.invalid


# Cookiebot


def test_cookiebot_documented_value() -> None:
    """The value Cookiebot's developer documentation reads on the server ("Server side
    usage", https://www.cookiebot.com/en/developer/), as the browser sends it, percent-encoded."""
    value = (
        "{stamp:'-7jSJEeCQjLA7yxjvWJ0DRwJm3TlhFw8VcvOPhZuBXpzn8vmxrXJpw==',necessary:true,"
        "preferences:true,statistics:false,marketing:false,method:'explicit',ver:1,"
        "utc:1700000000000,region:'de'}"
    )
    assert read("cookiebot", CookieConsent=quote(value, safe="")) == {E, P}
    assert read("cookiebot", CookieConsent=value) == {E, P}


def test_cookiebot_accept_all_and_necessary_only() -> None:
    """Cookiebot's four categories, https://www.cookiebot.com/en/developer/ (consent.*)."""
    every = "{stamp:'x',necessary:true,preferences:true,statistics:true,marketing:true,ver:1}"
    none = "{stamp:'x',necessary:true,preferences:false,statistics:false,marketing:false,ver:1}"
    assert read("cookiebot", CookieConsent=quote(every)) == {E, P, A, M}
    assert read("cookiebot", CookieConsent=quote(none)) == {E}


def test_cookiebot_minus_one_is_no_choice() -> None:
    """``-1``: Cookiebot found no consent needed where the visitor is
    (https://www.cookiebot.com/en/developer/, "Server side usage"); the regime decides."""
    assert read("cookiebot", CookieConsent="-1") is None


# vanilla-cookieconsent


def test_cookieconsent_v3_value() -> None:
    """The v3 cookie's fields, as ``dist/cookieconsent.umd.js`` 3.1.0 writes them
    (``encodeURIComponent(JSON.stringify(...))``)."""
    value = {
        "categories": ["necessary", "analytics"],
        "revision": 0,
        "data": None,
        "consentTimestamp": "2026-12-07T10:00:00.000Z",
        "consentId": "6c6dbf39-f314-4442-bd24-eef9bd2f77d3",
        "services": {"necessary": [], "analytics": ["ga"], "ads": []},
        "languageCode": "en",
        "lastConsentTimestamp": "2026-12-07T10:00:00.000Z",
        "expirationTime": 1796637600000,
    }
    assert read("cookieconsent", cc_cookie=quote(json.dumps(value), safe="")) == {E, A}


def test_cookieconsent_value_written_in_chromium() -> None:
    """The cookie vanilla-cookieconsent 3.1.0 wrote in Chromium after "Accept all", verbatim
    (tests/browser/test_cmp_in_chromium.py's page)."""
    value = (
        "%7B%22categories%22%3A%5B%22necessary%22%2C%22analytics%22%2C%22ads%22%5D%2C%22revisi"
        "on%22%3A0%2C%22data%22%3Anull%2C%22consentTimestamp%22%3A%222026-12-07T20%3A55%3A58.48"
        "2Z%22%2C%22consentId%22%3A%220669e6b7-c338-44bf-ad5a-782217c8e800%22%2C%22services%22%"
        "3A%7B%22necessary%22%3A%5B%5D%2C%22analytics%22%3A%5B%5D%2C%22ads%22%3A%5B%5D%7D%2C%22"
        "languageCode%22%3A%22en%22%2C%22lastConsentTimestamp%22%3A%222026-12-07T20%3A55%3A58.4"
        "82Z%22%2C%22expirationTime%22%3A1812401758483%7D"
    )
    assert read("cookieconsent", cc_cookie=value) == {E, A, M}


def test_cookieconsent_reject_all_names_every_category_in_services() -> None:
    """Rejecting all keeps the read-only category only; ``services`` still names the others
    (``dist/cookieconsent.umd.js`` 3.1.0 fills ``services`` for every configured category)."""
    value = {"categories": ["necessary"], "revision": 0, "services": {"necessary": [], "ads": []}}
    assert read("cookieconsent", cc_cookie=quote(json.dumps(value))) == {E}


def test_cookieconsent_v2_level() -> None:
    """v2 wrote ``level`` (https://github.com/orestbida/cookieconsent/tree/v2.9.2, README
    "cookie"): the accepted categories."""
    value = {"level": ["necessary", "analytics", "targeting"], "revision": 0}
    assert read("cookieconsent", cc_cookie=quote(json.dumps(value))) == {E, A, M}


# OneTrust


ONETRUST = (
    "isGpcEnabled=0&datestamp=Mon+Dec+07+2026+10%3A00%3A00+GMT%2B0100&version=202411.1.0"
    "&browserGpcFlag=0&isIABGlobal=false&hosts=&consentId=0d5e7e4c-1b71-4c3a-9b9e-2c1e0d7a1f11"
    "&interactionCount=1&isAnonUser=1&landingPath=NotLandingPage"
    "&groups={groups}&AwaitingReconsent=false"
)


def onetrust(groups: str, interactions: int = 1) -> str:
    value = ONETRUST.format(groups=quote(groups, safe=""))
    return value.replace("interactionCount=1", f"interactionCount={interactions}")


def test_onetrust_published_example() -> None:
    """An ``OptanonConsent`` value as published with its group ids (C0001 essential, C0002
    performance, C0003 functional, C0004 targeting, C0005 social media) in the README of
    ``@commercetools-frontend/cookie-consent``, https://npmjs.com/package/@commercetools-
    frontend/cookie-consent, which reads it with ``URLSearchParams``."""
    value = (
        "isGpcEnabled=0&datestamp=Wed+Feb+01+2023+12%3A35%3A32+GMT%2B0100+(Central+European"
        "+Standard+Time)&version=202209.1.0&isIABGlobal=false&hosts=&consentId=7f3cf16d-b3e1-"
        "4781-8db1-61482d0a9dff&interactionCount=1&landingPath=NotLandingPage&groups=C0001%3A1"
        "%2CC0002%3A0%2CC0003%3A1%2CC0004%3A1%2CC0005%3A1&geolocation=AT%3B9&AwaitingReconsent"
        "=false"
    )
    assert read("onetrust", OptanonConsent=value) == {E, P, M}


def test_onetrust_groups() -> None:
    value = onetrust("C0001:1,C0002:1,C0003:0,C0004:0,C0005:0")
    assert read("onetrust", OptanonConsent=value, OptanonAlertBoxClosed="2026-12-07") == {E, A}


def test_onetrust_marketing_needs_targeting_and_social() -> None:
    """C0004 (targeting) and C0005 (social media) are both marketing: one refused refuses it."""
    half = onetrust("C0001:1,C0002:0,C0003:0,C0004:1,C0005:0")
    both = onetrust("C0001:1,C0002:0,C0003:0,C0004:1,C0005:1")
    assert read("onetrust", OptanonConsent=half) == {E}
    assert read("onetrust", OptanonConsent=both) == {E, M}


def test_onetrust_before_a_choice_is_no_choice() -> None:
    """OneTrust writes the cookie before any choice with the geolocation rule's defaults;
    ``OptanonAlertBoxClosed`` or an interaction makes it the visitor's."""
    value = onetrust("C0001:1,C0002:1,C0003:1,C0004:1", interactions=0)
    assert read("onetrust", OptanonConsent=value) is None
    closed = read("onetrust", OptanonConsent=value, OptanonAlertBoxClosed="2026-12-07T10:00Z")
    assert closed == {E, P, A, M}


def test_onetrust_site_group_ids() -> None:
    """A site's own group ids, mapped in its settings."""
    source = build(["onetrust"], {"onetrust": SiteTable(categories={"C0007": Category.MARKETING})})
    value = onetrust("C0001:1,C0002:0,C0007:1")
    assert source.read(source.values([("OptanonConsent", value)])).granted == {E, M}


# CookieYes


def test_cookieyes_value() -> None:
    """``cookieyes-consent`` as CookieYes writes it (the cookie CookieYes' article "Cookies
    installed by CookieYes and their purposes", https://www.cookieyes.com/cookies-installed-
    by-cookieyes-and-their-purposes/, names; this value as sites using it send it)."""
    value = (
        "consentid:ZTJkNzQ5ZjEtYjg2,consent:yes,action:yes,necessary:yes,functional:no,"
        "analytics:yes,performance:yes,advertisement:no,other:no"
    )
    assert read("cookieyes", **{"cookieyes-consent": value}) == {E, A}


def test_cookieyes_newer_value_with_consent_time() -> None:
    """Newer versions add ``consent_time`` (milliseconds) and name ``others``."""
    value = (
        "consentid:bVh6aFV5S2E2UmVYbzg2M1RYMGtaODRVRlV6TEszTGI,consent:no,action:yes,"
        "necessary:yes,functional:no,analytics:no,performance:no,advertisement:no,others:no,"
        "consent_time:1738777649814"
    )
    assert read("cookieyes", **{"cookieyes-consent": value}) == {E}


def test_cookieyes_a_word_other_than_yes_refuses() -> None:
    value = "consentid:x,consent:yes,action:yes,necessary:yes,analytics:maybe,performance:yes"
    assert read("cookieyes", **{"cookieyes-consent": value}) == {E}


def test_cookieyes_before_an_action_is_no_choice() -> None:
    value = "consentid:abc,consent:no,action:,necessary:yes,functional:no,analytics:no"
    assert read("cookieyes", **{"cookieyes-consent": value}) is None


# Complianz


def test_complianz_cookies() -> None:
    """One cookie per category, ``allow`` or ``deny`` (https://complianz.io/cookies-from-
    complianz-what-are-they-for-and-how-you-use-them/)."""
    assert read(
        "complianz",
        cmplz_functional="allow",
        cmplz_preferences="allow",
        cmplz_statistics="deny",
        cmplz_marketing="allow",
    ) == {E, P, M}


def test_complianz_older_stats_cookie() -> None:
    """Earlier versions named the statistics cookie ``cmplz_stats`` (same article)."""
    assert read("complianz", cmplz_stats="allow", cmplz_marketing="deny") == {E, A}


def test_complianz_functional_alone_is_no_choice() -> None:
    assert read("complianz", cmplz_functional="allow") is None


# Klaro


def test_klaro_services() -> None:
    """Klaro's cookie: ``encodeURIComponent(JSON.stringify(consents))``, one boolean per
    service (klaro 0.7.22, ``src/consent-manager.js`` ``saveConsents``)."""
    value = quote(json.dumps({"matomo": True, "youtube": False, "inlineTracker": True}))
    assert read("klaro", klaro=value) == {E, A}


def test_klaro_site_services() -> None:
    site = SiteTable(categories={"hotjar": Category.ANALYTICS, "matomo": E})
    source = build(["klaro"], {"klaro": site})
    value = quote(json.dumps({"hotjar": True, "matomo": False}))
    assert source.read(source.values([("klaro", value)])).granted == {E, A}


# Osano


def osano(choices: dict[str, str]) -> str:
    return base64.b64encode(json.dumps(choices).encode()).decode()


def test_osano_categories() -> None:
    """``osano_consentmanager``: base64 JSON of Osano's categories, ACCEPT or DENY, the
    categories Edgee's Osano mapping documents reading from this cookie
    (https://www.edgee.cloud/docs/components/consent-management/osano-consent-mapping)."""
    value = osano(
        {
            "ESSENTIAL": "ACCEPT",
            "STORAGE": "ACCEPT",
            "MARKETING": "DENY",
            "PERSONALIZATION": "ACCEPT",
            "ANALYTICS": "ACCEPT",
            "OPT_OUT": "DENY",
        }
    )
    assert read("osano", osano_consentmanager=value) == {E, P, A}
    assert read("osano", osano_consentmanager=quote(value, safe="")) == {E, P, A}


# Usercentrics (through static/cmp/usercentrics-cookie.js)


def test_usercentrics_snippet_cookie() -> None:
    """What the snippet writes: one boolean per Usercentrics category slug."""
    value = quote(json.dumps({"essential": True, "functional": True, "marketing": False}))
    assert read("usercentrics", uc_consent=value) == {E, P}


# What every adapter shares


def test_absent_cookie_is_no_choice() -> None:
    for name in ADAPTERS:
        source = build([name], {})
        assert source.read(source.values([("other", "1")])) == NO_CHOICE


@pytest.mark.parametrize(
    ("name", "cookie", "value"),
    [
        ("cookiebot", "CookieConsent", "{necessary:yes}"),
        ("cookiebot", "CookieConsent", "%7Bstamp%3A%27x%27"),
        ("cookiebot", "CookieConsent", "%E0%A4%A"),
        ("cookiebot", "CookieConsent", "{" + "a:true," * 5000 + "necessary:true}"),
        ("cookieconsent", "cc_cookie", "%5B%5D"),
        ("cookieconsent", "cc_cookie", quote('{"categories": "analytics"}')),
        ("cookieconsent", "cc_cookie", "[" * 10_000),
        ("onetrust", "OptanonConsent", "interactionCount=1&groups=C0001%3Ayes"),
        ("onetrust", "OptanonConsent", "interactionCount=x&groups=C0001%3A1"),
        ("onetrust", "OptanonConsent", "consentId=abc"),
        ("onetrust", "OptanonConsent", "groups=C0002%3Ayes%2C"),
        ("cookieyes", "cookieyes-consent", "garbage"),
        ("complianz", "cmplz_marketing", "yes"),
        ("klaro", "klaro", quote('{"matomo": "true"}')),
        ("klaro", "klaro", quote('{"a": {"b": true}}')),
        ("usercentrics", "uc_consent", quote('["essential"]')),
        ("osano", "osano_consentmanager", "not base64 !!"),
        ("osano", "osano_consentmanager", base64.b64encode(b'{"ANALYTICS":"YES"}').decode()),
        ("osano", "osano_consentmanager", base64.b64encode(b"\xff\xfe").decode()),
    ],
)
def test_malformed_values_are_no_choice_and_counted(name: str, cookie: str, value: str) -> None:
    assert refused(name, **{cookie: value})


@given(value=st.text(max_size=300))
def test_any_value_reads_or_is_refused(value: str) -> None:
    """Whatever a visitor sends, every adapter answers: a choice, none, or invalid."""
    for name in ADAPTERS:
        source = build([name], {})
        pairs = [(cookie, value) for cookie in source.cookie_names]
        source.read(source.values(pairs))


@given(value=st.binary(max_size=200))
def test_any_percent_encoded_bytes_read_or_are_refused(value: bytes) -> None:
    for name in ADAPTERS:
        source = build([name], {})
        pairs = [(cookie, quote(value, safe="")) for cookie in source.cookie_names]
        source.read(source.values(pairs))


def test_several_adapters_grant_what_all_of_them_grant() -> None:
    """A site moving from Cookiebot to Klaro: a visitor with both cookies gets the less."""
    source = build(["cookiebot", "klaro"], {})
    cookiebot = quote("{stamp:'x',necessary:true,preferences:true,statistics:true,marketing:true}")
    klaro = quote(json.dumps({"matomo": True, "youtube": False}))
    reading = source.read(source.values([("CookieConsent", cookiebot), ("klaro", klaro)]))
    assert reading.granted == {E, A}
    assert reading.source is Source.KLARO


def test_first_value_of_a_cookie_sent_twice_counts() -> None:
    source = build(["complianz"], {})
    values = source.values([("cmplz_marketing", "deny"), ("cmplz_marketing", "allow")])
    assert source.read(values).granted == {E}


def test_answers_are_remembered_by_cookie_values() -> None:
    source: ConsentSource = build(["cookiebot"], {})
    values = source.values([("CookieConsent", "{necessary:true,marketing:true}")])
    first = source.read(values)
    assert source.read(values) is first
    assert (source.choices.misses, source.choices.hits) == (1, 1)


def test_grants_rule() -> None:
    """A category needs one mapped key named and every named mapped key granted."""
    mapping = {"a": A, "b": A, "m": M, "n": E}
    assert grants({"a": True}, mapping) == {E, A}
    assert grants({"a": True, "b": False}, mapping) == {E}
    assert grants({"n": False, "x": True}, mapping) == {E}


def test_every_adapter_has_built_in_rules() -> None:
    """``rules/cmp.toml`` names each adapter's cookie and maps some of its keys (the IAB
    strings' mappings are rules files of their own)."""
    for name in ADAPTERS:
        assert config(name).cookie != name or name == "klaro"
        assert config(name).categories or name in RULES_MAPPED_ADAPTERS
