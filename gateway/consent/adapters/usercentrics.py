"""Usercentrics, through the cookie ``static/cmp/usercentrics-cookie.js`` writes.

Usercentrics' Browser UI v2 keeps the visitor's choice in the browser's ``localStorage``,
which never reaches a server. The snippet copies it into a cookie on every choice, one
boolean per Usercentrics category (its ``categorySlug``): ``{"essential":true,
"functional":false,"marketing":true}``, percent-encoded; a category is true when every
service in it is accepted.
"""

from __future__ import annotations

from gateway.consent.adapters.base import AdapterConfig, OneCookie, json_booleans, one_cookie
from gateway.consent.state import Source


def adapter(settings: AdapterConfig) -> OneCookie:
    """The Usercentrics adapter (with the snippet on the site's pages)."""
    return one_cookie(Source.USERCENTRICS, settings, json_booleans)
