"""A consent source carries the TC string its choice was read from, only while that string
says what is enforced: the one GA4 hits then pass on as ``gdpr_consent``. The strings come
from the IAB's own library (``@iabtechlabtcf/core``)."""

from __future__ import annotations

import pytest

from gateway.consent.adapters import build
from gateway.consent.adapters.base import SiteTable
from gateway.consent.state import Category, Source
from tests.consent.test_didomi import ANALYTICS_PURPOSES, IAB_PURPOSES, token
from tests.integration.test_iab_sources import tc_string

pytestmark = pytest.mark.slow  # the strings come from Node

ANALYTICS = frozenset({Category.ESSENTIAL, Category.ANALYTICS})
# A Cookiebot choice granting statistics only, and one granting everything.
COOKIEBOT_ANALYTICS = "{stamp:'a',necessary:true,preferences:false,statistics:true,marketing:false}"
COOKIEBOT_ALL = "{stamp:'a',necessary:true,preferences:true,statistics:true,marketing:true}"


@pytest.fixture(scope="module")
def strings() -> dict[str, str]:
    """TC strings consenting to every purpose, and to storage and measurement only."""
    return {
        "all": tc_string(*range(1, 11)),
        "analytics": tc_string(1, 7, 8, 9, 10),
        "storage and content measurement": tc_string(1, 8),
    }


def test_the_tcf_adapter_carries_the_string_it_read(strings: dict[str, str]) -> None:
    source = build(["tcf"], {})
    reading = source.read(source.values([("euconsent-v2", f" {strings['analytics']} ")]))
    assert (reading.granted, reading.source, reading.tc_string) == (
        ANALYTICS,
        Source.TCF,
        strings["analytics"],
    )
    cut = source.read(source.values([("euconsent-v2", strings["analytics"][:20])]))
    assert (cut.granted, cut.invalid, cut.tc_string) == (None, True, None)


def test_didomi_carries_its_string_only_when_the_token_does_not_narrow_it(
    strings: dict[str, str],
) -> None:
    source = build(["didomi"], {})
    everything = token(IAB_PURPOSES)
    narrowed_by_string = source.read(
        source.values([("didomi_token", everything), ("euconsent-v2", strings["analytics"])])
    )
    assert narrowed_by_string.granted == ANALYTICS
    assert narrowed_by_string.tc_string == strings["analytics"]

    # The token grants analytics only, the string everything: Google would be told more.
    narrowed_by_token = source.read(
        source.values(
            [
                ("didomi_token", token(["cookies", *ANALYTICS_PURPOSES])),
                ("euconsent-v2", strings["all"]),
            ]
        )
    )
    assert narrowed_by_token.granted == ANALYTICS and narrowed_by_token.tc_string is None

    token_only = source.read(source.values([("didomi_token", everything)]))
    assert token_only.granted == frozenset(Category) and token_only.tc_string is None


def test_an_adapter_without_a_tc_string_carries_none() -> None:
    source = build(["cookiebot"], {})
    reading = source.read(source.values([("CookieConsent", COOKIEBOT_ANALYTICS)]))
    assert reading.granted == ANALYTICS and reading.tc_string is None


def test_a_string_another_source_narrowed_is_not_carried(strings: dict[str, str]) -> None:
    """Cookiebot granting less than the TC string: what is enforced is narrower than what
    the string says, so it would grant Google more than the visitor has here."""
    source = build(["tcf", "cookiebot"], {})
    narrowed = source.read(
        source.values([("euconsent-v2", strings["all"]), ("CookieConsent", COOKIEBOT_ANALYTICS)])
    )
    assert narrowed.granted == ANALYTICS and narrowed.tc_string is None
    same = source.read(
        source.values([("euconsent-v2", strings["analytics"]), ("CookieConsent", COOKIEBOT_ALL)])
    )
    assert same.granted == ANALYTICS and same.tc_string == strings["analytics"]


def test_didomis_tc_string_maps_by_the_sites_purposes(strings: dict[str, str]) -> None:
    """``[consent_adapters.didomi] purposes`` decides what Didomi's TC string grants, as
    ``[consent_adapters.tcf] purposes`` does for the tcf adapter."""
    pairs = [("euconsent-v2", strings["storage and content measurement"])]
    default = build(["didomi"], {})
    assert default.read(default.values(pairs)).granted == {Category.ESSENTIAL}
    site = SiteTable(purposes={"analytics": frozenset({1, 8})})
    own = build(["didomi"], {"didomi": site})
    assert own.read(own.values(pairs)).granted == ANALYTICS
