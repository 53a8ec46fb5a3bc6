"""The records a store keeps and the interface every backend offers."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

MAX_UNKNOWN_NAMES = 10_000
MAX_NAME_LENGTH = 256


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One consent decision, as proof (GDPR Art. 7(1)). There is no field for an IP address."""

    consent_id: str
    decided_at: datetime
    policy_version: str
    categories: Mapping[str, bool]
    regime: str
    source: str
    action: str
    country: str | None
    subdivision: str | None
    user_agent: str | None

    def categories_json(self) -> str:
        return json.dumps(dict(self.categories), sort_keys=True)


@dataclass(frozen=True, slots=True)
class UnknownCookie:
    name: str
    count: int
    first_seen: datetime
    last_seen: datetime


class Store(Protocol):
    def record_consent(self, record: ConsentRecord) -> None: ...

    def consent_history(self, consent_id: str) -> list[ConsentRecord]: ...

    def count_unknown_cookies(self, counts: Mapping[str, int], seen_at: datetime) -> None: ...

    def unknown_cookies(self, limit: int | None = None) -> list[UnknownCookie]: ...

    def note_cookie_rules(self, keys: Collection[str], seen_at: datetime) -> None: ...

    def cookie_rules_seen(self) -> set[str]: ...

    def close(self) -> None: ...


def clean_name(name: str) -> str:
    """Unknown cookie names are visitor input: bounded length, stored as given otherwise."""
    return name[:MAX_NAME_LENGTH]
