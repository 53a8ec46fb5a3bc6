"""The records a store keeps and the interface every backend offers."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

MAX_UNKNOWN_NAMES = 10_000
MAX_NAME_LENGTH = 256


# How a decision was given (``ConsentRecord.method``) and where (``layer``): docs/records.md.
METHODS = ("accept_all", "reject_all", "custom", "gpc", "withdraw", "form")
LAYERS = ("banner", "preferences", "api", "form", "gpc")
GENESIS = "0" * 64  # the previous hash of the first record ever kept
RECORD_FORMAT = 1  # the version of the canonical encoding a record's hash is taken over


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One consent decision, as proof (GDPR Art. 7(1)). There is no field for an IP address.

    The store fills ``sequence``, ``record_hash`` and ``prev_hash`` when it appends the
    record to the chain (``chain_hash``); a record read back carries them. A record written
    before the chain existed has no ``method``, ``path``, ``layer``, ``banner_hash`` or
    ``language``."""

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
    method: str | None = None  # one of METHODS
    path: str | None = None  # the page's path, without query or fragment
    layer: str | None = None  # one of LAYERS
    banner_hash: str | None = None  # banner texts and settings as shown (Banner.shown_hash)
    language: str | None = None  # the banner's language
    sequence: int | None = None
    record_hash: str | None = None
    prev_hash: str | None = None

    def categories_json(self) -> str:
        return json.dumps(dict(self.categories), sort_keys=True)

    def content(self) -> ConsentRecord:
        """The record without its place in the chain: what a caller hands the store."""
        return replace(self, sequence=None, record_hash=None, prev_hash=None)

    def as_json(self) -> dict[str, object]:
        """The record as the rights API and ``records export`` show it."""
        return {
            "sequence": self.sequence,
            "consent_id": self.consent_id,
            "decided_at": utc_text(self.decided_at),
            "policy_version": self.policy_version,
            "categories": dict(sorted(self.categories.items())),
            "regime": self.regime,
            "source": self.source,
            "action": self.action,
            "method": self.method,
            "country": self.country,
            "subdivision": self.subdivision,
            "user_agent": self.user_agent,
            "path": self.path,
            "layer": self.layer,
            "banner_hash": self.banner_hash,
            "language": self.language,
            "record_hash": self.record_hash,
            "prev_hash": self.prev_hash,
        }


def utc_text(moment: datetime) -> str:
    """A time as the chain encodes it: UTC, microseconds, always the same length."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def clean_text(value: str | None) -> str | None:
    """Text as both databases keep it (PostgreSQL text cannot hold NUL): hashed after this,
    so a record verifies on either backend."""
    return value.replace("\x00", "\ufffd") if value is not None else None


def chain_hash(record: ConsentRecord, sequence: int, nonce: str, prev_hash: str) -> str:
    """SHA-256 (hex) over the canonical encoding of the record's fields, its sequence, its
    random ``nonce`` and the previous record's hash: JSON with sorted keys, no spaces, ASCII
    only. The nonce makes the hash of an erased record impossible to tie to its consent id."""
    fields = {
        "format": RECORD_FORMAT,
        "sequence": sequence,
        "nonce": nonce,
        "prev_hash": prev_hash,
        "consent_id": record.consent_id,
        "decided_at": utc_text(record.decided_at),
        "policy_version": record.policy_version,
        "categories": dict(record.categories),
        "regime": record.regime,
        "source": record.source,
        "action": record.action,
        "country": record.country,
        "subdivision": record.subdivision,
        "user_agent": record.user_agent,
        "method": record.method,
        "path": record.path,
        "layer": record.layer,
        "banner_hash": record.banner_hash,
        "language": record.language,
    }
    encoded = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(encoded.encode("ascii")).hexdigest()


def new_nonce() -> str:
    return secrets.token_hex(16)


def cleaned(record: ConsentRecord) -> ConsentRecord:
    """``record`` with every text as the databases store it (``clean_text``)."""
    return replace(
        record.content(),
        consent_id=clean_text(record.consent_id) or "",
        user_agent=clean_text(record.user_agent),
        path=clean_text(record.path),
        country=clean_text(record.country),
        subdivision=clean_text(record.subdivision),
    )


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What ``verify_records`` found. ``first_bad`` is the sequence number of the first record
    that fails (``reason`` says why); ``None`` when the whole chain holds."""

    checked: int  # records read, erased ones included
    erased: int  # records whose content was erased (their hash still links the chain)
    anchor_sequence: int  # records up to this one were purged (retention)
    head_sequence: int
    head_hash: str
    first_bad: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad is None


class ChainCheck:
    """Checks records one at a time in sequence order, from the anchor to the head, so a
    chain of any length verifies in constant memory."""

    def __init__(self, anchor: tuple[int, str], head: tuple[int, str]) -> None:
        self.anchor, self.head = anchor, head
        self.sequence, self.previous = anchor
        self.checked = self.erased = 0
        self.first_bad: int | None = None
        self.reason: str | None = None

    def add(
        self,
        sequence: int,
        record: ConsentRecord | None,
        nonce: str | None,
        prev_hash: str,
        record_hash: str,
    ) -> bool:
        """One stored row (``record`` None when erased); False once a record failed."""
        self.checked += 1
        expected = self.sequence + 1
        if sequence != expected:
            return self._bad(sequence, f"records are missing before it (from {expected})")
        if prev_hash != self.previous:
            return self._bad(sequence, "does not link to the record before it")
        if record is None or nonce is None:
            if record is not None or nonce is not None:
                return self._bad(sequence, "erased only in part")
            self.erased += 1
        elif chain_hash(record, sequence, nonce, prev_hash) != record_hash:
            return self._bad(sequence, "its content does not match its hash: it was changed")
        self.sequence, self.previous = sequence, record_hash
        return True

    def result(self) -> VerifyResult:
        if self.first_bad is None and (self.sequence, self.previous) != self.head:
            self._bad(
                self.sequence + 1 if self.sequence < self.head[0] else self.sequence,
                f"the chain ends at record {self.sequence}, its head is record "
                f"{self.head[0]}: records at the end were removed or added",
            )
        return VerifyResult(
            checked=self.checked,
            erased=self.erased,
            anchor_sequence=self.anchor[0],
            head_sequence=self.head[0],
            head_hash=self.head[1],
            first_bad=self.first_bad,
            reason=self.reason,
        )

    def _bad(self, sequence: int, reason: str) -> bool:
        self.first_bad, self.reason = sequence, reason
        return False


# The columns of a record row, in the order ``from_row`` reads them.
RECORD_COLUMNS = (
    "seq",
    "consent_id",
    "decided_at",
    "policy_version",
    "categories",
    "regime",
    "source",
    "action",
    "country",
    "subdivision",
    "user_agent",
    "method",
    "path",
    "layer",
    "banner_hash",
    "language",
    "nonce",
    "prev_hash",
    "record_hash",
)
# Erasing a record sets these to NULL: all but its place in the chain (and ``erased_on``).
ERASED_COLUMNS = [
    name for name in RECORD_COLUMNS if name not in ("seq", "prev_hash", "record_hash")
]


@dataclass(frozen=True, slots=True)
class StoredRow:
    """One row of the records table as the chain sees it; ``record`` None when erased."""

    sequence: int
    record: ConsentRecord | None
    nonce: str | None
    prev_hash: str
    record_hash: str


def from_row(row: Sequence[Any]) -> StoredRow:
    """A row of ``RECORD_COLUMNS`` (times as ``datetime`` or ISO text, categories as JSON
    text)."""
    sequence, nonce, prev_hash, record_hash = row[0], row[16], row[17], row[18]
    if row[1] is None:
        return StoredRow(sequence, None, nonce, prev_hash, record_hash)
    decided_at = row[2] if isinstance(row[2], datetime) else datetime.fromisoformat(row[2])
    record = ConsentRecord(
        row[1], decided_at.astimezone(UTC), row[3], json.loads(row[4]), *row[5:16]
    )
    record = replace(record, sequence=sequence, record_hash=record_hash, prev_hash=prev_hash)
    return StoredRow(sequence, record, nonce, prev_hash, record_hash)


def sealed_rows(rows: Iterator[Sequence[Any]], head: tuple[int, str]) -> Iterator[StoredRow]:
    """Records kept before the chain existed (``RECORD_COLUMNS`` rows, chain columns still
    empty), in their order, appended after ``head``: sealed as they are, with the fields
    they have."""
    for row in rows:
        found = from_row(row).record
        assert found is not None
        stored = appended(found, head)
        head = (stored.sequence, stored.record_hash)
        yield stored


def row_values(row: StoredRow) -> tuple[Any, ...]:
    """The values of ``RECORD_COLUMNS`` for a live row (times as ISO text, categories as
    JSON text)."""
    record = row.record
    assert record is not None
    return (
        row.sequence,
        record.consent_id,
        utc_text(record.decided_at),
        record.policy_version,
        record.categories_json(),
        record.regime,
        record.source,
        record.action,
        record.country,
        record.subdivision,
        record.user_agent,
        record.method,
        record.path,
        record.layer,
        record.banner_hash,
        record.language,
        row.nonce,
        row.prev_hash,
        row.record_hash,
    )


def appended(record: ConsentRecord, head: tuple[int, str]) -> StoredRow:
    """``record`` as the next row after ``head`` (its sequence and hash)."""
    clean = cleaned(record)
    sequence, nonce = head[0] + 1, new_nonce()
    return StoredRow(sequence, clean, nonce, head[1], chain_hash(clean, sequence, nonce, head[1]))


def purge_end(rows: Sequence[tuple[int, datetime | None, str]], older_than: datetime) -> int:
    """Of the oldest rows after the anchor, ``(sequence, decided_at or None when erased,
    record_hash)`` in order, how many to purge: the prefix decided before ``older_than``,
    with the erased ones in it (they hold nothing, and have no time to wait for). The chain
    stays whole: only its start moves."""
    for index, (_, decided_at, _) in enumerate(rows):
        if decided_at is not None and decided_at >= older_than:
            return index
    return len(rows)


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
    def record_consent(self, record: ConsentRecord) -> None:
        """Append ``record`` to the chain (its chain fields are ignored and set here)."""
        ...

    def consent_history(self, consent_id: str) -> list[ConsentRecord]: ...

    def erase_consent(self, consent_id: str) -> dict[str, int]:
        """Erase every trace of ``consent_id``: records keep only their place in the chain
        (sequence, hash, previous hash); other tables lose the rows that hold it. Rows
        erased, by table."""
        ...

    def export_records(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[ConsentRecord]:
        """Records decided in ``[since, until)``, in chain order, streamed (never the whole
        table in memory); erased records are left out."""
        ...

    def verify_records(self) -> VerifyResult:
        """Recompute the chain from the anchor to the head; the first record that fails."""
        ...

    def purge_records(self, older_than: datetime, batch: int = 1000) -> int:
        """Delete the records decided before ``older_than`` from the start of the chain, in
        transactions of at most ``batch`` records, moving the anchor; how many."""
        ...

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
