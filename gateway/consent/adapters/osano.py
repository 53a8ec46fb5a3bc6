"""Osano's ``osano_consentmanager`` cookie.

Osano keeps the visitor's choice as base64-encoded JSON of its categories, each
``"ACCEPT"`` or ``"DENY"``: ``{"ESSENTIAL":"ACCEPT","STORAGE":"ACCEPT","MARKETING":"DENY",
"PERSONALIZATION":"DENY","ANALYTICS":"ACCEPT","OPT_OUT":"DENY"}`` (the categories Edgee's
Osano mapping reads from this cookie; sources in docs/cmp/osano.md).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from gateway.consent.adapters.base import AdapterConfig, OneCookie, cookie_text, one_cookie
from gateway.consent.state import Source
from gateway.json_input import parse_json

FLAGS = {"ACCEPT": True, "DENY": False}


def parse(value: str) -> Mapping[str, bool]:
    """Each category with its consent (``OPT_OUT`` and other non-category keys ignored by
    the mapping)."""
    text = cookie_text(value).strip()
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=False)
        document = parse_json(raw.decode("utf-8"), max_depth=1)
    except (binascii.Error, UnicodeDecodeError) as error:
        raise ValueError(f"not base64 JSON: {error}") from None
    if not isinstance(document, dict) or not document:
        raise ValueError("not an Osano consent object")
    choices: dict[str, bool] = {}
    for key, flag in document.items():
        if flag not in FLAGS:
            raise ValueError(f"{key}: expected ACCEPT or DENY")
        choices[str(key)] = FLAGS[flag]
    return choices


def adapter(settings: AdapterConfig) -> OneCookie:
    """The Osano adapter."""
    return one_cookie(Source.OSANO, settings, parse)
