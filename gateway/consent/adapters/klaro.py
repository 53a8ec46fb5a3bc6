"""Klaro's ``klaro`` cookie (github.com/klaro-org/klaro).

Klaro stores ``{"<service name>": true|false, ...}`` as JSON under its ``storageName``
(``klaro`` by default), percent-encoded in a cookie. Service names are the site's own, so
the site maps them onto categories in its settings.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.consent.adapters.base import (
    AdapterConfig,
    OneCookie,
    boolean,
    cookie_text,
    one_cookie,
)
from gateway.consent.state import Source
from gateway.json_input import parse_json


def parse(value: str) -> Mapping[str, bool]:
    """Each service with its consent."""
    document = parse_json(cookie_text(value), max_depth=1)
    if not isinstance(document, dict):
        raise ValueError("not a Klaro consent object")
    return {str(name): boolean(on, str(name)) for name, on in document.items()}


def adapter(settings: AdapterConfig) -> OneCookie:
    """The Klaro adapter."""
    return one_cookie(Source.KLARO, settings, parse)
