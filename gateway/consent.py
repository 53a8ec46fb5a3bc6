"""Consent categories, the visitor's consent state and its signed cookie.

The whole decision fits in one small cookie signed with itsdangerous, so gateway replicas
share nothing in memory: ``<consent id>.<grant bits>.<policy version>.<timestamp>.<signature>``.
The signing timestamp doubles as the decision time.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from itsdangerous import BadData, TimestampSigner

from gateway.memo import Memo


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
_BITS = {Category.PREFERENCES: 1, Category.ANALYTICS: 2, Category.MARKETING: 4}


class Source(StrEnum):
    """Where the grants came from."""

    USER = "user"
    DEFAULT = "default"
    GPC = "gpc"


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
    """The part of a consent state a page may reflect (``gateway.banner.public_state``'s fields):
    visitors with the same choice get the same page, whatever their consent ids."""
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


_CONSENT_ID_PATTERN = re.compile(r"[A-Za-z0-9_\-]{22}")
# The longest consent cookie value that can verify: consent id (22), grant bits (1 hex digit)
# and policy version (at most 32), each followed by a dot; the signing time (itsdangerous: a
# big-endian integer, base64, 11 characters for 8 bytes) and a dot; the HMAC-SHA256
# signature (43 characters). A longer value is neither verified nor remembered.
MAX_COOKIE_VALUE_LENGTH = 22 + 1 + 1 + 1 + 32 + 1 + 11 + 1 + 43


@dataclass(frozen=True, slots=True)
class Decision:
    """The part of a consent state that the cookie carries."""

    consent_id: str
    granted: frozenset[Category]
    policy_version: str
    decided_at: datetime


@dataclass(slots=True)
class ConsentCookieCodec:
    """Signs and verifies the consent cookie.

    ``secrets[0]`` signs; every secret verifies, so keys rotate by prepending a new one.
    Anything that does not verify (tampered, truncated, expired, signed with a key we no
    longer hold, an older policy version) decodes to ``None``: the visitor has not decided.
    """

    secrets: Sequence[str]
    max_age_seconds: int
    cache_size: int = 10_000
    _signer: TimestampSigner = field(init=False, repr=False)
    _verified: Memo[str, Decision] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.secrets:
            raise ValueError("at least one secret is needed to sign the consent cookie")
        # itsdangerous signs with the *last* key and verifies with all of them.
        self._signer = TimestampSigner(
            list(reversed(self.secrets)),
            salt="consent-gateway.consent",
            digest_method=hashlib.sha256,
        )
        size = self.cache_size
        self._verified = Memo(size, size * MAX_COOKIE_VALUE_LENGTH, MAX_COOKIE_VALUE_LENGTH)

    def encode(self, decision: Decision) -> str:
        bits = sum(_BITS[c] for c in decision.granted if c in _BITS)
        payload = f"{decision.consent_id}.{bits:x}.{decision.policy_version}"
        signed = self._signer.sign(payload).decode("ascii")
        return signed

    def decode(self, value: str, policy_version: str) -> Decision | None:
        """The decision in ``value``, or ``None`` when it cannot be trusted or is stale.

        A returning visitor sends the same cookie on every request, so values whose
        signature already verified are remembered (bounded) and only their age is checked.
        """
        known = self._verified.table.get(value)
        if known is not None:
            fresh = time.time() - known.decided_at.timestamp() <= self.max_age_seconds
            return known if fresh and known.policy_version == policy_version else None
        if len(value) > MAX_COOKIE_VALUE_LENGTH:
            return None
        decision = self._verify(value, policy_version)
        if decision is not None:
            self._verified.put(value, decision, len(value))
        return decision

    def _verify(self, value: str, policy_version: str) -> Decision | None:
        try:
            payload, signed_at = self._signer.unsign(
                value, max_age=self.max_age_seconds, return_timestamp=True
            )
            consent_id, bits_text, version = payload.decode("ascii").split(".", 2)
            bits = int(bits_text, 16)
        except (BadData, ValueError, UnicodeDecodeError):
            return None
        if (
            version != policy_version
            or not _CONSENT_ID_PATTERN.fullmatch(consent_id)
            or len(bits_text) != 1
        ):
            return None
        granted = grants_from({c: bool(bits & bit) for c, bit in _BITS.items()})
        return Decision(consent_id, granted, version, signed_at.astimezone(UTC))


def parse_categories(names: Iterable[str]) -> list[Category]:
    """Categories by name; ``ValueError`` names the first unknown one."""
    result = []
    for name in names:
        try:
            result.append(Category(name))
        except ValueError:
            raise ValueError(f"unknown category {name!r}") from None
    return result
