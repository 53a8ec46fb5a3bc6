"""Cookiebot's ``CookieConsent`` cookie.

Cookiebot's developer documentation ("Server side usage", https://www.cookiebot.com/en/developer/)
reads the choice on the server from this cookie: ``-1`` when the visitor is where no consent
is needed, otherwise a JavaScript object literal, percent-encoded:
``{stamp:'...',necessary:true,preferences:true,statistics:false,marketing:false,
method:'explicit',ver:1,utc:1700000000000,region:'de'}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gateway.consent.adapters.base import AdapterConfig, OneCookie, cookie_text, one_cookie
from gateway.consent.state import Source

# key:value where value is a quoted string, true/false or a number; nothing else.
_PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_]{0,31}):('[^'\\]{0,256}'|true|false|-?[0-9]{1,16})")


def parse(value: str) -> Mapping[str, bool] | None:
    """The categories ``CookieConsent`` grants; ``None`` for ``-1`` (Cookiebot found no
    consent needed where the visitor is: the gateway's own regime decides)."""
    text = cookie_text(value).strip()
    if text == "-1":
        return None
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError("not a Cookiebot consent object")
    choices: dict[str, bool] = {}
    for part in text[1:-1].split(","):
        match = _PAIR.fullmatch(part.strip())
        if match is None:
            raise ValueError("not a Cookiebot consent object")
        key, raw = match.groups()
        if raw in ("true", "false"):
            choices[key] = raw == "true"
    if "necessary" not in choices:
        raise ValueError("no necessary: not a Cookiebot consent object")
    return choices


def adapter(settings: AdapterConfig) -> OneCookie:
    """The Cookiebot adapter."""
    return one_cookie(Source.COOKIEBOT, settings, parse)
