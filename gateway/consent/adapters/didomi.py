"""Didomi's ``didomi_token`` cookie, and the TC string Didomi writes beside it under GDPR.

Didomi's web SDK keeps the visitor's choice in ``didomi_token``: ``btoa`` of JSON such as
``{"user_id":"...","created":"...","updated":"...","vendors":{"enabled":["google"],
"disabled":[]},"purposes":{"enabled":["cookies","measure_content_performance"],
"disabled":["select_basic_ads"]},"vendors_li":{...},"purposes_li":{...},"version":2}``
(https://support.didomi.io/en/didomi-cookies-storage-1; each list may be absent). The purposes
given consent (``purposes``, not the legitimate-interest ``purposes_li``) map onto categories
by ``rules/cmp.toml``; a refused ``cookies`` purpose (TCF purpose 1, storage on the device)
refuses every optional category, as purpose 1 does in ``rules/tcf.toml``.

Under GDPR Didomi also writes the IAB TC string (``euconsent-v2``, the ``tc_cookie``): with
both cookies the visitor gets what both grant, with one what that one grants.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.consent.adapters.base import AdapterConfig, config, cookie_text, grants
from gateway.consent.adapters.tcf import Purposes, tc_grants, tc_string
from gateway.consent.state import ESSENTIAL_ONLY, Category, Source
from gateway.consent.tcf import load_tcf_table
from gateway.json_input import parse_json

# Didomi's id of TCF purpose 1, "Store and/or access information on a device".
STORAGE_PURPOSE = "cookies"
# The token's enabled/disabled lists; only ``purposes`` is mapped, all are checked.
SECTIONS = ("purposes", "purposes_li", "vendors", "vendors_li")
# {"purposes": {"enabled": [...]}}: an object in an object holding lists, nothing deeper.
MAX_DEPTH = 3


def _lists(document: Mapping[str, object], name: str) -> tuple[set[str], set[str]]:
    """The ``enabled`` and ``disabled`` ids of one section of the token; each may be absent,
    anything else than a list of strings does not read."""
    section = document.get(name, {})
    if not isinstance(section, dict):
        raise ValueError(f"{name}: expected an object")
    lists = []
    for key in ("enabled", "disabled"):
        ids = section.get(key, [])
        if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
            raise ValueError(f"{name}.{key}: expected a list of ids")
        lists.append(set(ids))
    return lists[0], lists[1]


def parse(value: str) -> dict[str, bool]:
    """Each purpose the token names, with whether it has the visitor's consent;
    ``ValueError`` for anything but the JSON object Didomi writes, in base64."""
    text = cookie_text(value).strip()
    raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    document = parse_json(raw.decode("utf-8"), max_depth=MAX_DEPTH)
    if not isinstance(document, dict):
        raise ValueError("not a Didomi token")
    sections = {name: _lists(document, name) for name in SECTIONS}
    enabled, disabled = sections["purposes"]
    if enabled & disabled:
        raise ValueError(f"purposes both enabled and disabled: {sorted(enabled & disabled)}")
    return {**dict.fromkeys(enabled, True), **dict.fromkeys(disabled, False)}


def token_grants(value: str, categories: Mapping[str, Category]) -> frozenset[Category]:
    """The categories a ``didomi_token`` grants: none but essential once ``cookies`` (storage
    on the device) is refused."""
    choices = parse(value)
    if choices.get(STORAGE_PURPOSE) is False:
        return ESSENTIAL_ONLY
    return grants(choices, categories)


@dataclass(frozen=True, slots=True)
class Didomi:
    """Reads ``didomi_token`` and the TC string cookie."""

    cookie_names: tuple[str, ...]
    categories: Mapping[str, Category]
    purposes: Purposes  # the TC string's purposes by category (rules/tcf.toml)
    source: Source = Source.DIDOMI

    def read(self, values: Sequence[str | None]) -> frozenset[Category] | None:
        token, tc_value = values
        answers = [tc_grants(tc_value, self.purposes)]
        if token is not None and token.strip():
            answers.append(token_grants(token, self.categories))
        found = [granted for granted in answers if granted is not None]
        return frozenset.intersection(*found) if found else None

    def tc_string(
        self, values: Sequence[str | None], granted: frozenset[Category]
    ) -> tuple[str, frozenset[Category]] | None:
        """The TC string Didomi wrote and what it grants alone: ``granted`` may be narrowed
        by the token, so the string is mapped on its own."""
        return tc_string(values[1], self.purposes)


def adapter(settings: AdapterConfig) -> Didomi:
    """The Didomi adapter: ``cookie`` is the token's cookie, ``tc_cookie`` the TC string's
    (unset: the one the ``tcf`` adapter reads)."""
    tc_cookie = settings.tc_cookie or config("tcf").cookie
    purposes = settings.purposes if settings.purposes is not None else load_tcf_table()
    return Didomi((settings.cookie, tc_cookie), settings.categories, purposes)
