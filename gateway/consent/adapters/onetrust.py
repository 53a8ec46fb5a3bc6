"""OneTrust's ``OptanonConsent`` cookie, with ``OptanonAlertBoxClosed``.

``OptanonConsent`` is a query string (``isGpcEnabled=0&datestamp=...&version=...&consentId=
...&interactionCount=1&groups=C0001%3A1%2CC0002%3A0%2C...``): ``groups`` lists each cookie
category id with ``1`` (consent) or ``0``. OneTrust writes it before any choice, with the
geolocation rule's defaults; the choice is the visitor's once they closed the banner
(``OptanonAlertBoxClosed``, a date) or interacted (``interactionCount`` above 0). A
published example with the default ids:
https://npmjs.com/package/@commercetools-frontend/cookie-consent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs

from gateway.consent.adapters.base import MAX_VALUE_LENGTH, AdapterConfig, grants
from gateway.consent.state import Category, Source

ALERT_BOX_CLOSED = "OptanonAlertBoxClosed"


def parse(value: str, closed: bool) -> Mapping[str, bool] | None:
    """Each group id with its consent; ``None`` before the visitor chose."""
    if len(value) > MAX_VALUE_LENGTH:
        raise ValueError("longer than a cookie can be")
    fields = parse_qs(value, keep_blank_values=True, strict_parsing=False, errors="strict")
    groups = fields.get("groups")
    if not groups or len(groups) != 1:
        raise ValueError("no groups")
    interactions = fields.get("interactionCount", ["0"])[0]
    if not interactions.isdigit():
        raise ValueError("interactionCount is not a number")
    choices: dict[str, bool] = {}
    for group in groups[0].split(","):
        group_id, colon, flag = group.partition(":")
        if not colon or not group_id or flag not in ("0", "1"):
            raise ValueError(f"{group!r} is not a group id and 0 or 1")
        choices[group_id] = flag == "1"
    if not closed and int(interactions) == 0:
        return None
    return choices


@dataclass(frozen=True, slots=True)
class OneTrust:
    """Reads ``OptanonConsent`` and whether ``OptanonAlertBoxClosed`` is there."""

    cookie_names: tuple[str, ...]
    categories: Mapping[str, Category]
    source: Source = Source.ONETRUST

    def read(self, values: Sequence[str | None]) -> frozenset[Category] | None:
        consent, closed = values
        if consent is None:
            return None
        choices = parse(consent, closed is not None)
        return None if choices is None else grants(choices, self.categories)


def adapter(settings: AdapterConfig) -> OneTrust:
    """The OneTrust adapter."""
    return OneTrust((settings.cookie, ALERT_BOX_CLOSED), settings.categories)
