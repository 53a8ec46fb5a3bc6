"""vanilla-cookieconsent's ``cc_cookie`` (github.com/orestbida/cookieconsent).

Version 3 writes JSON (as ``dist/cookieconsent.umd.js`` 3.1.0 writes it, percent-encoded):
``{"categories": [accepted], "revision": 0, "data": null, "consentTimestamp": "...",
"consentId": "...", "services": {"<category>": [accepted services], ...},
"lastConsentTimestamp": "...", "expirationTime": ...}``; ``services`` names every category
the site has, accepted or not. Version 2 wrote ``{"level": [accepted], "revision": 0, ...}``,
which names only the accepted ones.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.consent.adapters.base import AdapterConfig, OneCookie, cookie_text, one_cookie
from gateway.consent.state import Source
from gateway.json_input import parse_json

MAX_DEPTH = 4


def _names(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValueError(f"{where}: expected a list of category names")
    return value


def parse(value: str) -> Mapping[str, bool]:
    """Every category the cookie names, with whether it was accepted."""
    document = parse_json(cookie_text(value), max_depth=MAX_DEPTH)
    if not isinstance(document, dict):
        raise ValueError("not a cookieconsent object")
    if "categories" in document:
        accepted = _names(document["categories"], "categories")
        services = document.get("services")
        known = list(services) if isinstance(services, dict) else []
    elif "level" in document:
        accepted, known = _names(document["level"], "level"), []
    else:
        raise ValueError("neither categories (v3) nor level (v2)")
    return {**dict.fromkeys(known, False), **dict.fromkeys(accepted, True)}


def adapter(settings: AdapterConfig) -> OneCookie:
    """The vanilla-cookieconsent adapter."""
    return one_cookie(Source.COOKIECONSENT, settings, parse)
