"""The Didomi adapter reads ``didomi_token`` as Didomi's web SDK writes it (``btoa`` of
JSON), maps the purposes given consent, refuses everything optional without the storage
purpose, and reads any other value as no choice, never as an error other than ``ValueError``.

The token's fields: https://support.didomi.io/en/didomi-cookies-storage-1 (and
https://docs.didomi.io/moIvfcA7NSpjmwGZ7dzv/get-started/general/cookies-and-local-storage);
the purpose ids: https://support.didomi.io/purposes. The TC string beside it, written by the
IAB's own library, is in tests/integration/test_didomi_source.py.
"""

from __future__ import annotations

import base64
import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.consent.adapters import build
from gateway.consent.adapters.base import SiteTable, config
from gateway.consent.state import Category, Source
from gateway.settings import Settings
from tests.support.apps import SECRET

E, P, A, M = Category.ESSENTIAL, Category.PREFERENCES, Category.ANALYTICS, Category.MARKETING

# Every IAB TCF purpose by its Didomi id (https://support.didomi.io/purposes), 1 to 11.
IAB_PURPOSES = [
    "cookies",
    "select_basic_ads",
    "create_ads_profile",
    "select_personalized_ads",
    "create_content_profile",
    "select_personalized_content",
    "measure_ad_performance",
    "measure_content_performance",
    "market_research",
    "improve_products",
    "use_limited_data_to_select_content",
]
ANALYTICS_PURPOSES = [
    "measure_ad_performance",
    "measure_content_performance",
    "market_research",
    "improve_products",
]

# The example token Didomi's help centre publishes ("Didomi Cookies: storage",
# https://support.didomi.io/en/didomi-cookies-storage-1), verbatim: custom purposes only.
DOCUMENTED_TOKEN = (
    "eyJ1c2VyX2lkIjoiMTc4NDExNGMtZjhiMy02NTkwLWE2ZGYtYjlmYjI0MGJkZWE1IiwiY3JlYXRlZCI6IjIwMjEt"
    "MDMtMTdUMTY6NDY6MzIuMzQ0WiIsInVwZGF0ZWQiOiIyMDIxLTAzLTE3VDE2OjQ2OjMyLjM0NFoiLCJ2ZW5kb3Jz"
    "Ijp7ImVuYWJsZWQiOlsiYW1hem9uIiwiZ29vZ2xlIiwiYzpyZXNlYXV4c28tVkZlcEtyTFIiLCJjOnBhcnRlbmFp"
    "cmUtWDlTRFdrZzIiLCJjOnBlcnNvbm5hbGktWDNWY3h6UkQiLCJjOmdvb2dsZWFuYS1oN0tjM2U3WSIsImM6cHVi"
    "bGljaXRlLXRGUkY0ZDM5Il19LCJwdXJwb3NlcyI6eyJlbmFibGVkIjpbInA0ZW05YThtIiwicGFydGVuYWlyZS1j"
    "QXNEZThqQyIsIkNMLVQxUmdtNyIsIk05TlJISmUzRyIsInE0emxKcWRjRCJdfSwidmVuZG9yc19saSI6eyJlbmFi"
    "bGVkIjpbImdvb2dsZSJdfSwidmVyc2lvbiI6Mn0="
)


def token(
    enabled: list[str],
    disabled: list[str] = [],  # noqa: B006 - read only
    li_enabled: list[str] = [],  # noqa: B006
    version: int = 2,
) -> str:
    """A ``didomi_token`` as the SDK writes it: ``btoa(JSON.stringify(token))`` of the shape
    Didomi documents (https://support.didomi.io/en/didomi-cookies-storage-1)."""
    document = {
        "user_id": "18ee10b5-1c0b-67bb-b764-00385b75dff5",
        "created": "2024-04-15T09:16:39.232Z",
        "updated": "2024-04-15T09:16:42.504Z",
        "vendors": {"enabled": ["google", "c:mixpanel"], "disabled": ["amazon"]},
        "purposes": {"enabled": enabled, "disabled": disabled},
        "vendors_li": {"enabled": [], "disabled": ["google"]},
        "purposes_li": {"enabled": li_enabled, "disabled": ["geo_ads"]},
        "version": version,
        "ac": "AkuAEAFkBJYA.AkuAEAFkBJYA",
    }
    return encoded(document)


def encoded(document: Any) -> str:
    return base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()


def reading(
    site: SiteTable | None = None, **cookies: str
) -> tuple[frozenset[Category] | None, bool]:
    """``(granted, invalid)`` of the Didomi adapter (the site's table over the built-in one)
    for ``cookies``."""
    source = build(["didomi"], {"didomi": site} if site else {})
    answer = source.read(source.values(cookies.items()))
    assert answer.source in (None, Source.DIDOMI)
    return answer.granted, answer.invalid


def granted(value: str, site: SiteTable | None = None) -> frozenset[Category] | None:
    result, invalid = reading(site, didomi_token=value)
    assert not invalid
    return result


def refused(value: str) -> bool:
    """Whether the token does not read: no choice, counted as invalid."""
    return reading(didomi_token=value) == (None, True)


def test_the_example_shape_grants_what_its_purposes_map_to() -> None:
    value = token(
        ["cookies", "measure_content_performance"], ["device_characteristics", "geolocation_data"]
    )
    assert granted(value) == {E, A}


def test_percent_encoded_in_the_cookie_reads_the_same() -> None:
    value = token(["cookies", "measure_content_performance"])
    assert value.endswith("=")
    assert granted(quote(value, safe="")) == {E, A}


def test_documented_token_with_its_custom_purposes() -> None:
    """The published example names only custom purposes: nothing until the site maps them."""
    assert granted(DOCUMENTED_TOKEN) == {E}
    site = SiteTable(categories={"M9NRHJe3G": A, "p4em9a8m": M})
    assert granted(DOCUMENTED_TOKEN, site) == {E, A, M}


def test_every_iab_purpose_accepted_grants_everything() -> None:
    assert granted(token(IAB_PURPOSES)) == {E, P, A, M}


@pytest.mark.parametrize(
    ("purposes", "category"),
    [
        (["select_basic_ads", "create_ads_profile", "select_personalized_ads"], M),
        (["create_content_profile", "select_personalized_content"], P),
        (ANALYTICS_PURPOSES, A),
    ],
)
def test_each_group_of_purposes_grants_its_category(
    purposes: list[str], category: Category
) -> None:
    assert granted(token(["cookies", *purposes])) == {E, category}


def test_one_refused_purpose_of_a_category_refuses_it() -> None:
    ads = ["select_basic_ads", "create_ads_profile"]
    assert granted(token(["cookies", *ads], ["select_personalized_ads"])) == {E}
    everything_but_one = [p for p in IAB_PURPOSES if p != "market_research"]
    assert granted(token(everything_but_one, ["market_research"])) == {E, P, M}


def test_a_refused_storage_purpose_refuses_every_optional_category() -> None:
    """TCF purpose 1 (``cookies``): without storage consent nothing optional is stored,
    whatever else the visitor accepted (as purpose 1 in rules/tcf.toml)."""
    everything_else = IAB_PURPOSES[1:]
    assert granted(token(everything_else, ["cookies"])) == {E}
    site = SiteTable(categories={"newsletter": P})
    assert granted(token(["newsletter"], ["cookies"]), site) == {E}


def test_a_token_that_does_not_name_the_storage_purpose_is_read_as_it_is() -> None:
    """A notice with custom purposes only never asks for ``cookies``."""
    site = SiteTable(categories={"audience": A})
    assert granted(token(["audience"]), site) == {E, A}


def test_legitimate_interest_grants_nothing() -> None:
    """Cookies and trackers need consent: ``purposes_li`` is read, checked and not used."""
    assert granted(token(["cookies"], li_enabled=ANALYTICS_PURPOSES)) == {E}


def test_tcf_v1_era_ids_and_version_1_tokens() -> None:
    value = token(
        ["cookies", "analytics", "advertising_personalization", "ad_delivery"],
        ["content_personalization"],
        version=1,
    )
    assert granted(value) == {E, A, M}


def test_lists_may_be_absent() -> None:
    assert granted(encoded({"purposes": {"enabled": ["cookies", "analytics"]}})) == {E, A}
    assert granted(encoded({"purposes": {"disabled": ["analytics"]}})) == {E}
    assert granted(encoded({"user_id": "x", "version": 2})) == {E}


def test_renamed_cookies() -> None:
    """Didomi's ``cookies`` configuration renames both cookies
    (https://developers.didomi.io/cmp/web-sdk/consent-notice/cookies)."""
    site = SiteTable(cookie="dt", tc_cookie="tc")
    analytics = token(["cookies", *ANALYTICS_PURPOSES])
    assert reading(site, dt=analytics) == ({E, A}, False)
    assert reading(site, didomi_token=analytics) == (None, False)
    assert reading(site, dt=analytics, tc="not a TC string") == (None, True)


def test_no_cookie_or_a_blank_one_is_no_choice() -> None:
    assert reading(other="1") == (None, False)
    assert reading(didomi_token=" ", **{"euconsent-v2": ""}) == (None, False)


def test_a_tc_string_that_does_not_read_is_no_consent_even_beside_a_good_token() -> None:
    every = token(IAB_PURPOSES)
    assert reading(didomi_token=every, **{"euconsent-v2": "not a TC string"}) == (None, True)


def long_token() -> str:
    return token(["cookies", *[f"custom-{i:04d}" for i in range(400)]])


@pytest.mark.parametrize(
    "value",
    [
        "not base64!",
        "eyJwdXJwb3Nlcy",  # cut short
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b"\xff\xfe{}").decode(),
        encoded(["cookies"]),
        encoded("cookies"),
        encoded({"purposes": ["cookies"]}),
        encoded({"purposes": None}),
        encoded({"purposes": {"enabled": "cookies"}}),
        encoded({"purposes": {"enabled": ["cookies", 7]}}),
        encoded({"purposes": {"enabled": [["cookies"]]}}),
        encoded({"purposes_li": {"enabled": [True]}}),
        encoded({"vendors": {"disabled": {"google": True}}}),
        encoded({"purposes": {"enabled": ["cookies", "analytics"], "disabled": ["analytics"]}}),
        encoded({"purposes": {"enabled": [], "nested": {"deeper": [{}]}}}),
        long_token(),
        quote(json.dumps({"purposes": {"enabled": ["cookies"]}})),  # JSON, not base64
    ],
)
def test_malformed_tokens_are_no_choice_and_counted(value: str) -> None:
    assert refused(value)


def test_a_tampered_token_does_not_read() -> None:
    """One character of a real token changed, or the token cut: no consent."""
    value = token(IAB_PURPOSES)
    assert refused(value[:-8])
    assert refused("f" + value[1:])  # the opening '{' becomes a control character


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
KEYS = st.sampled_from(["purposes", "purposes_li", "vendors", "vendors_li", "version", "x"])


@given(
    document=st.dictionaries(
        KEYS, JSON | st.dictionaries(st.sampled_from(["enabled", "disabled"]), JSON)
    )
)
def test_any_json_in_the_token_reads_or_is_refused(document: dict[str, Any]) -> None:
    """Whatever JSON a visitor puts in the cookie, the adapter answers: a choice or invalid."""
    result, invalid = reading(didomi_token=encoded(document))
    assert (result is None) == invalid
    assert result is None or E in result


@given(enabled=st.sets(st.sampled_from([*IAB_PURPOSES[1:], "analytics", "custom"])))
def test_storage_refused_never_grants_an_optional_category(enabled: set[str]) -> None:
    site = SiteTable(categories={"custom": P})
    assert granted(token(sorted(enabled), ["cookies"]), site) == {E}


PAGE = Path(__file__).parents[2] / "docs" / "cmp" / "didomi.md"


def test_the_docs_show_the_built_in_mapping() -> None:
    """Each row of the page's mapping table: the purpose ids in it and the category."""
    documented: dict[str, Category] = {}
    mapping = PAGE.read_text().split("## Mapping", 1)[1].split("\n## ", 1)[0]
    for row in re.findall(r"^\| (`.*) \| (\w[\w ]*) \|$", mapping, re.MULTILINE):
        ids, category = row
        if category != "see below":
            documented.update(dict.fromkeys(re.findall(r"`(\w+)`", ids), Category(category)))
    assert documented == dict(config("didomi").categories)


def test_the_docs_example_settings_load_and_read_the_renamed_cookies() -> None:
    example = PAGE.read_text().split("## Example", 1)[1].split("```toml\n", 1)[1]
    values = tomllib.loads(example.split("```", 1)[0])
    settings = Settings.load(environ={}, secret=SECRET, **values)
    table = settings.consent_adapters["didomi"]
    site = SiteTable(table.cookie, table.categories, table.tc_cookie)
    assert reading(site, dmt=token(["cookies", "audience-stats"])) == ({E, A}, False)
    assert reading(site, tcstring="not a TC string") == (None, True)
