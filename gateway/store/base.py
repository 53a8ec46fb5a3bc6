"""The records a store keeps and the interface every backend offers."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
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
    # How much of ``count`` may be other names': a name that arrives when the table is full
    # takes the place of the least counted one and inherits its count (space-saving).
    error: int = 0


@dataclass(frozen=True, slots=True)
class OutboxHit:
    """One redacted analytics hit waiting to be forwarded.

    ``hit_id`` is stable for the hit's whole life (the provider's own event id where it has
    one), so a hit sent twice after a crash is recognisably the same hit.
    """

    hit_id: str
    provider: str
    payload: bytes
    created_at: float  # Unix time


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A hit claimed by a forwarder, with its bookkeeping."""

    row_id: int
    hit_id: str
    provider: str
    payload: bytes
    created_at: float
    attempts: int  # including the current one


@dataclass(frozen=True, slots=True)
class TrimResult:
    expired: dict[str, int]  # provider -> hits older than the age limit, deleted
    overflow: dict[str, int]  # provider -> oldest hits beyond the size limit, deleted
    remaining: int  # at most this many hits remain (exact when the limit was reached)


@dataclass(frozen=True, slots=True)
class DailyCount:
    """One row of the daily aggregates: ``count`` events of ``kind`` with ``label`` on
    ``day`` (``YYYY-MM-DD``, UTC), summed over every worker and replica."""

    day: str
    kind: str
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class DecisionCount:
    """How many decisions of one ``choice`` (``choice_of``) were recorded on ``day``."""

    day: str
    regime: str
    country: str | None
    policy_version: str
    choice: str
    count: int


class Store(Protocol):
    def record_consent(self, record: ConsentRecord) -> None: ...

    def consent_history(self, consent_id: str) -> list[ConsentRecord]: ...

    def count_unknown_cookies(
        self, counts: Mapping[str, int], seen_at: datetime, errors: Mapping[str, int] | None = None
    ) -> None:
        """Add ``counts`` (with their possible overcounts, ``errors``) to the table; when it
        is full, a new name takes the place of the least counted one (space-saving), so
        names sent once never crowd out a name many visitors send."""
        ...

    def unknown_cookies(self, limit: int | None = None) -> list[UnknownCookie]: ...

    def note_cookie_rules(self, keys: Collection[str], seen_at: datetime) -> None: ...

    def cookie_rules_seen(self) -> set[str]: ...

    def vouch_cookie_rules(
        self,
        sent: Mapping[bytes, Collection[str]],
        seen_at: datetime,
        *,
        visitors: int,
        rules_per_visitor: int,
    ) -> set[str]:
        """Note that the browsers of each visitor (a keyed hash) sent cookies of these rules;
        a visitor vouches for at most ``rules_per_visitor`` rules, and a rule ``visitors``
        of them vouched for is noted as seen. The rules noted now."""
        ...

    def reset_cookie_rules(self) -> int:
        """Forget every rule seen and every visitor's vouching; how many rules were seen."""
        ...

    def outbox_add(self, hits: Sequence[OutboxHit]) -> None:
        """Store every hit in one transaction; a hit id already stored is kept as it is."""
        ...

    def outbox_claim(
        self, provider: str, owner: str, limit: int, lease_seconds: float, now: float
    ) -> list[OutboxRow]:
        """Atomically lease up to ``limit`` due hits of ``provider``, oldest first. Two
        claimers never get the same hit while its lease runs."""
        ...

    def outbox_done(self, row_ids: Sequence[int]) -> None:
        """Delete hits that were delivered (or given up on)."""
        ...

    def outbox_retry(self, row_ids: Sequence[int], not_before: float) -> None:
        """Release hits to be tried again at ``not_before``."""
        ...

    def outbox_due_now(self, provider: str, now: float) -> int:
        """Make every waiting retry of ``provider`` due at once (after an outage ended);
        how many there were."""
        ...

    def outbox_trim(self, max_age_seconds: float, max_hits: int, now: float) -> TrimResult:
        """Delete hits older than the age limit and the oldest beyond the size limit."""
        ...

    def outbox_count(self, provider: str | None = None) -> int: ...

    def salt_for(self, day: str, candidate: bytes, keep_after: str) -> bytes:
        """The salt of ``day`` (``YYYY-MM-DD``): ``candidate`` if no replica stored one first.
        Salts of days before ``keep_after`` are deleted."""
        ...

    def salt_days(self) -> list[str]: ...

    def ping(self) -> None:
        """Raise unless the store answers a query (readiness, ``<api_prefix>/ready``)."""
        ...

    def close(self) -> None: ...

    def add_daily_counts(self, day: str, counts: Mapping[tuple[str, str], int]) -> None:
        """Add ``{(kind, label): count}`` to the aggregates of ``day``, in one transaction
        (every worker adds its own batches; the sums are the site's)."""
        ...

    def daily_counts(self, kind: str, since: str) -> list[DailyCount]:
        """The aggregates of ``kind`` from day ``since`` on, by day and label."""
        ...

    def decision_counts(self, since: datetime) -> list[DecisionCount]:
        """Recorded decisions from ``since`` on, counted by UTC day, regime, country, policy
        version and choice."""
        ...


def clean_name(name: str) -> str:
    """Unknown cookie names are visitor input: bounded length, stored as given otherwise."""
    return name[:MAX_NAME_LENGTH]


def unknown_rows(
    counts: Mapping[str, int], errors: Mapping[str, int] | None
) -> list[tuple[str, int, int]]:
    """``(name, count, error)`` per clean name, the most counted first: the order a batch
    meets a full table in, so its names sent once make way for each other, not for it."""
    errors = errors or {}
    merged: dict[str, tuple[int, int]] = {}
    for raw_name, count in counts.items():
        name = clean_name(raw_name)
        total, error = merged.get(name, (0, 0))
        merged[name] = (total + count, error + errors.get(raw_name, 0))
    rows = [(name, count, error) for name, (count, error) in merged.items()]
    return sorted(rows, key=lambda row: -row[1])


NON_ESSENTIAL = ("preferences", "analytics", "marketing")


def choice_of(categories: Mapping[str, bool], action: str) -> str:
    """What a record's categories say the visitor chose: ``accept_all`` (every
    non-essential category), ``reject_all`` (none), ``custom`` (some); a withdrawal is
    ``withdraw`` whatever it left."""
    if action == "withdraw":
        return "withdraw"
    granted = sum(1 for name in NON_ESSENTIAL if categories.get(name) is True)
    if granted == len(NON_ESSENTIAL):
        return "accept_all"
    return "reject_all" if granted == 0 else "custom"


def decision_rows(
    rows: Sequence[tuple[str, str, str | None, str, str, str, int]],
) -> list[DecisionCount]:
    """``DecisionCount``s of ``(day, regime, country, version, categories JSON, action,
    count)`` rows, summed by choice."""
    sums: dict[tuple[str, str, str | None, str, str], int] = {}
    for day, regime, country, version, categories, action, count in rows:
        key = (day, regime, country, version, choice_of(json.loads(categories), action))
        sums[key] = sums.get(key, 0) + int(count)
    return [DecisionCount(*key, count) for key, count in sorted(sums.items(), key=_order)]


def _order(item: tuple[tuple[str, str, str | None, str, str], int]) -> tuple[str, ...]:
    day, regime, country, version, choice = item[0]
    return (day, regime, country or "", version, choice)
