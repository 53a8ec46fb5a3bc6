"""CookieYes's ``cookieyes-consent`` cookie.

CookieYes documents it (https://www.cookieyes.com/documentation/cookies-set-by-cookieyes/,
and its consent-retrieval article) as comma-separated ``key:value`` pairs:
``consentid:<id>,consent:yes,action:yes,necessary:yes,functional:no,analytics:no,
performance:no,advertisement:no,other:no``. ``action:yes`` says the visitor acted on the
banner; before that the values are the banner's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.consent.adapters.base import AdapterConfig, OneCookie, cookie_text, one_cookie
from gateway.consent.state import Source

# Keys that are not categories.
NOT_CATEGORIES = frozenset({"consentid", "consent", "action", "lastRenewedDate"})


def parse(value: str) -> Mapping[str, bool] | None:
    """Each category with its consent; ``None`` before the visitor acted."""
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
    choices: dict[str, bool] = {}
    for key, flag in pairs.items():
        if key in NOT_CATEGORIES:
            continue
        if flag not in ("yes", "no"):
            raise ValueError(f"{key}: expected yes or no")
        choices[key] = flag == "yes"
    return choices


def adapter(settings: AdapterConfig) -> OneCookie:
    """The CookieYes adapter."""
    return one_cookie(Source.COOKIEYES, settings, parse)
