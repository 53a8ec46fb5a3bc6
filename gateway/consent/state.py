"""Consent categories and the visitor's consent state: the vocabulary every part shares."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Category(StrEnum):
    """The four purposes a privacy policy names; ``essential`` is always granted."""

    ESSENTIAL = "essential"
    PREFERENCES = "preferences"
    ANALYTICS = "analytics"
    MARKETING = "marketing"


OPTIONAL_CATEGORIES: tuple[Category, ...] = (
    Category.PREFERENCES,
    Category.ANALYTICS,
    Category.MARKETING,
)
GRANT_BITS = {Category.PREFERENCES: 1, Category.ANALYTICS: 2, Category.MARKETING: 4}


class Source(StrEnum):
    """Where the grants came from: the visitor's choice in the gateway's cookie, the regime's
    default, GPC, or the choice a site's own CMP stored (named by its adapter,
    ``consent_source``)."""

    USER = "user"
    DEFAULT = "default"
    GPC = "gpc"
    TCF = "tcf"
    GPP = "gpp"
    COOKIEBOT = "cookiebot"
    ONETRUST = "onetrust"
    COOKIEYES = "cookieyes"
    COMPLIANZ = "complianz"
    KLARO = "klaro"
    COOKIECONSENT = "cookieconsent"
    DIDOMI = "didomi"
    OSANO = "osano"
    USERCENTRICS = "usercentrics"


class Regime(StrEnum):
    """How the law where the visitor is treats non-essential cookies before a choice."""

    OPT_IN = "opt-in"
    OPT_OUT = "opt-out"
    NOTICE = "notice"


POLICY_VERSION_PATTERN = re.compile(r"[A-Za-z0-9_\-]{1,32}")


@dataclass(frozen=True, slots=True)
class ConsentState:
    """What the visitor allowed, and why; ``allows()`` is what apps ask."""

    granted: frozenset[Category]
    decided: bool
    source: Source
    policy_version: str
    regime: Regime
    consent_id: str | None = None
    decided_at: datetime | None = None
    country: str | None = None
    subdivision: str | None = None
    gpc: bool = False
    bot: bool = False
    # The IAB TC string the choice was read from (a TCF consent source), passed on to
    # analytics providers that honour it; not part of the public view.
    tc_string: str | None = None

    def allows(self, category: Category | str) -> bool:
        """True when cookies of ``category`` may be set and read."""
        return category in self.granted or category == Category.ESSENTIAL

    def categories(self) -> dict[str, bool]:
        """Every category with its grant, for JSON."""
        return {category.value: self.allows(category) for category in Category}

    def as_json(self) -> dict[str, object]:
        """The public view served by ``GET /_consent/state``."""
        return {
            "consent_id": self.consent_id,
            "decided": self.decided,
            "source": self.source.value,
            "regime": self.regime.value,
            "policy_version": self.policy_version,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "gpc": self.gpc,
            "categories": self.categories(),
        }


def visible(state: ConsentState) -> tuple[object, ...]:
    """The part of a consent state a page may reflect (the fields of
    ``gateway.html.banner.public_state``): visitors with the same choice get the same page,
    whatever their consent ids."""
    return (
        state.granted,
        state.decided,
        state.source,
        state.regime,
        state.policy_version,
        state.gpc,
    )


def grants_from(mapping: Mapping[Category, bool]) -> frozenset[Category]:
    """The granted categories of a ``{category: bool}`` mapping, essential always in."""
    return frozenset({Category.ESSENTIAL, *(c for c, on in mapping.items() if on)})


ALL_GRANTED: frozenset[Category] = frozenset(Category)
ESSENTIAL_ONLY: frozenset[Category] = frozenset({Category.ESSENTIAL})


def new_consent_id() -> str:
    """128 random bits, URL-safe, no padding (22 characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class Decision:
    """The part of a consent state that the cookie carries."""

    consent_id: str
    granted: frozenset[Category]
    policy_version: str
    decided_at: datetime


def parse_categories(names: Iterable[str]) -> list[Category]:
    """Categories by name; ``ValueError`` names the first unknown one."""
    result = []
    for name in names:
        try:
            result.append(Category(name))
        except ValueError:
            raise ValueError(f"unknown category {name!r}") from None
    return result
