"""Klaro's ``klaro`` cookie (github.com/klaro-org/klaro).

Klaro stores ``encodeURIComponent(JSON.stringify(consents))``, one boolean per service:
``{"<service name>": true|false, ...}`` under its ``storageName`` (``klaro`` by default;
``src/consent-manager.js``, ``saveConsents``). Service names are the site's own, so the site
maps them onto categories in its settings.
"""

from __future__ import annotations

from gateway.consent.adapters.base import AdapterConfig, OneCookie, json_booleans, one_cookie
from gateway.consent.state import Source


def adapter(settings: AdapterConfig) -> OneCookie:
    """The Klaro adapter."""
    return one_cookie(Source.KLARO, settings, json_booleans)
