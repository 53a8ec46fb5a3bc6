"""A consent source carries the TC string its choice was read from, only while that string
says what is enforced: the one GA4 hits then pass on as ``gdpr_consent``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.consent.adapters import ConsentSource, build
from gateway.consent.adapters.base import config
from gateway.consent.adapters.cookiebot import adapter as cookiebot
from gateway.consent.state import Category, Source

ANALYTICS = frozenset({Category.ESSENTIAL, Category.ANALYTICS})
# A Cookiebot choice granting statistics only, and one granting everything.
COOKIEBOT_ANALYTICS = "{stamp:'a',necessary:true,preferences:false,statistics:true,marketing:false}"
COOKIEBOT_ALL = "{stamp:'a',necessary:true,preferences:true,statistics:true,marketing:true}"


@dataclass(frozen=True, slots=True)
class TokenAndTCString:
    """An adapter shaped like a CMP that keeps its own token beside ``euconsent-v2`` (as
    Didomi does): its choice is in the token, the TC string is its second cookie."""

    source: Source = Source.DIDOMI
    cookie_names: tuple[str, ...] = ("token", "euconsent-v2")
    tc_string_at: int = 1

    def read(self, values: Sequence[str | None]) -> frozenset[Category] | None:
        token = values[0]
        if token is None:
            return None
        if token not in ("analytics", "all"):
            raise ValueError("not a token")
        return ANALYTICS if token == "analytics" else frozenset(Category)


def test_the_tc_string_read_is_carried_by_the_position_the_adapter_names() -> None:
    source = ConsentSource([TokenAndTCString()])
    reading = source.read(source.values([("token", "analytics"), ("euconsent-v2", " CP1 ")]))
    assert (reading.granted, reading.source, reading.tc_string) == (
        ANALYTICS,
        Source.DIDOMI,
        "CP1",
    )
    no_string = source.read(source.values([("token", "analytics")]))
    assert no_string.granted == ANALYTICS and no_string.tc_string is None


def test_no_string_without_a_choice_or_when_the_cookie_does_not_read() -> None:
    source = ConsentSource([TokenAndTCString()])
    assert source.read(source.values([("euconsent-v2", "CP1")])).tc_string is None
    invalid = source.read(source.values([("token", "bad"), ("euconsent-v2", "CP1")]))
    assert (invalid.granted, invalid.invalid, invalid.tc_string) == (None, True, None)


def test_an_adapter_without_a_tc_string_carries_none() -> None:
    source = build(["cookiebot"], {})
    reading = source.read(source.values([("CookieConsent", COOKIEBOT_ANALYTICS)]))
    assert reading.granted == ANALYTICS and reading.tc_string is None


def test_a_string_another_source_narrowed_is_not_carried() -> None:
    """Cookiebot granting less than the TC string: what is enforced is narrower than what
    the string says, so it would grant Google more than the visitor has here."""
    source = ConsentSource([TokenAndTCString(), cookiebot(config("cookiebot"))])
    narrowed = source.read(
        source.values(
            [
                ("token", "all"),
                ("euconsent-v2", "CP1"),
                ("CookieConsent", COOKIEBOT_ANALYTICS),
            ]
        )
    )
    assert narrowed.granted == ANALYTICS and narrowed.tc_string is None
    same = source.read(
        source.values(
            [
                ("token", "analytics"),
                ("euconsent-v2", "CP1"),
                ("CookieConsent", COOKIEBOT_ALL),
            ]
        )
    )
    assert same.granted == ANALYTICS and same.tc_string == "CP1"
