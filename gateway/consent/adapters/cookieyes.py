"""CookieYes's ``cookieyes-consent`` cookie.

Comma-separated ``key:value`` pairs, as CookieYes writes it (values seen on sites using
it; CookieYes' article "Cookies installed by CookieYes and their purposes" names the cookie):
``consentid:<id>,consent:yes,action:yes,necessary:yes,functional:no,analytics:no,
performance:no,advertisement:no,other:no``, newer versions adding
``consent_time:<milliseconds>``. ``action:yes`` says the visitor acted on the
banner; before that the values are the banner's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.consent.adapters.base import AdapterConfig, OneCookie, cookie_text, one_cookie
from gateway.consent.state import Source

# Keys that are not categories; so is any key whose value is a number (``consent_time``).
NOT_CATEGORIES = frozenset({"consentid", "consent", "action", "lastRenewedDate"})


def parse(value: str) -> Mapping[str, bool] | None:
    """Each category with its consent (``yes``; any other word is a refusal); ``None``
    before the visitor acted."""
    pairs: dict[str, str] = {}
    for part in cookie_text(value).split(","):
        key, colon, flag = part.partition(":")
        if not colon or not key.strip():
            raise ValueError(f"{part!r} is not key:value")
        pairs[key.strip()] = flag.strip()
    if "necessary" not in pairs:
        raise ValueError("no necessary: not a CookieYes consent")
    if pairs.get("action") != "yes":
        return None
    return {
        key: flag == "yes"
        for key, flag in pairs.items()
        if key not in NOT_CATEGORIES and not flag.isdigit()
    }


def adapter(settings: AdapterConfig) -> OneCookie:
    """The CookieYes adapter."""
    return one_cookie(Source.COOKIEYES, settings, parse)
