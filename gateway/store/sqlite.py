"""SQLite store: one connection in WAL mode, guarded by a lock (SQLite writes one at a time
anyway, and a single connection keeps ``:memory:`` databases working).

Analytics hits about to be answered with a 2xx are committed with ``synchronous=FULL``:
the WAL is synced before the commit returns, so they survive a power cut, not only a
crash. Outbox bookkeeping (leases, deletions of delivered hits) runs with ``NORMAL``:
losing it to a power cut only sends a hit again, with its id. The outbox commits in groups
(one commit for all the hits that arrived in a few milliseconds), which keeps the fsyncs
few. Several processes may share the file: claims take SQLite's write lock (``BEGIN
IMMEDIATE``), so two forwarders never lease the same hit."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from gateway.store.base import (
    ERASED_COLUMNS,
    GENESIS,
    MAX_UNKNOWN_NAMES,
    RECORD_COLUMNS,
    ChainCheck,
    ConsentRecord,
    DailyCount,
    DecisionCount,
    OutboxHit,
    OutboxRow,
    TrimResult,
    UnknownCookie,
    VerifyResult,
    appended,
    clean_name,
    decision_rows,
    from_row,
    purge_end,
    row_values,
    sealed_rows,
    unknown_rows,
    utc_text,
)

T = TypeVar("T")
CHUNK = 500  # ids per statement, well below SQLite's bound-parameter limit

MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [
    """
    CREATE TABLE consent_records (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        consent_id TEXT NOT NULL,
        decided_at TEXT NOT NULL,
        policy_version TEXT NOT NULL,
        categories TEXT NOT NULL,
        regime TEXT NOT NULL,
        source TEXT NOT NULL,
        action TEXT NOT NULL,
        country TEXT,
        subdivision TEXT,
        user_agent TEXT
    );
    CREATE INDEX consent_records_by_id ON consent_records (consent_id, id);
    CREATE TABLE unknown_cookies (
        name TEXT PRIMARY KEY,
        count INTEGER NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL
    );
    """,
    # The built-in cookie rules whose cookies the site was seen to use, by key "<match>:<name>"
    # (see gateway/cookies/declaration.py): the banner's cookie declaration lists them.
    """
    CREATE TABLE seen_cookie_rules (
        rule TEXT PRIMARY KEY,
        first_seen TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE analytics_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        hit_id TEXT NOT NULL UNIQUE,
        provider TEXT NOT NULL,
        payload BLOB NOT NULL,
        created_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before REAL NOT NULL DEFAULT 0,
        lease_until REAL NOT NULL DEFAULT 0,
        lease_owner TEXT
    );
    CREATE INDEX analytics_outbox_due ON analytics_outbox (provider, id);
    CREATE TABLE analytics_salts (
        day TEXT PRIMARY KEY,
        salt BLOB NOT NULL
    );
    """,
    # The age limit finds expired hits without reading the whole outbox.
    "CREATE INDEX analytics_outbox_age ON analytics_outbox (created_at)",
    # Unknown names are counted by space-saving: the least counted (the longest unseen of
    # them) makes way for a new name, which records the count it inherits as its error.
    """
    ALTER TABLE unknown_cookies ADD COLUMN error INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX unknown_cookies_by_count ON unknown_cookies (count, last_seen);
    """,
    # Which visitors sent back cookies of a built-in rule not seen yet: a keyed hash of their
    # network under the day's salt (gateway/cookies/declaration.py). At most `visitors` rows a rule.
    """
    CREATE TABLE cookie_rule_vouchers (
        rule TEXT NOT NULL,
        visitor BLOB NOT NULL,
        PRIMARY KEY (rule, visitor)
    );
    CREATE INDEX cookie_rule_vouchers_by_visitor ON cookie_rule_vouchers (visitor);
    """,
    # Records form a hash chain (docs/records.md): the table is rebuilt with the new fields,
    # nullable content (an erased record keeps only its place in the chain), and the
    # records kept so far are sealed in their order.
    lambda db: _chain_records(db),
    # The admin page: per-day sums every worker adds to (banner impressions, pages without
    # the banner), and decisions counted by day from a bound.
    """
    CREATE TABLE daily_counts (
        kind TEXT NOT NULL,
        day TEXT NOT NULL,
        label TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (kind, day, label)
    );
    CREATE INDEX IF NOT EXISTS consent_records_by_time ON consent_records (decided_at);
    """,
]

RECORDS_TABLE = """
    CREATE TABLE consent_records (
        seq INTEGER PRIMARY KEY,
        consent_id TEXT,
        decided_at TEXT,
        policy_version TEXT,
        categories TEXT,
        regime TEXT,
        source TEXT,
        action TEXT,
        country TEXT,
        subdivision TEXT,
        user_agent TEXT,
        method TEXT,
        path TEXT,
        layer TEXT,
        banner_hash TEXT,
        language TEXT,
        nonce TEXT,
        prev_hash TEXT NOT NULL,
        record_hash TEXT NOT NULL,
        erased_on TEXT
    )
"""
COLUMNS = ", ".join(RECORD_COLUMNS)
MARKS = ", ".join("?" * len(RECORD_COLUMNS))
ERASE = ", ".join(f"{name} = NULL" for name in ERASED_COLUMNS)


def _chain_records(db: sqlite3.Connection) -> None:
    db.execute("DROP INDEX consent_records_by_id")
    db.execute("ALTER TABLE consent_records RENAME TO consent_records_unchained")
    db.execute(RECORDS_TABLE)
    db.execute("CREATE INDEX consent_records_by_id ON consent_records (consent_id, seq)")
    db.execute("CREATE TABLE consent_chain (name TEXT PRIMARY KEY, seq INTEGER, hash TEXT)")
    old = db.execute(
        "SELECT NULL, consent_id, decided_at, policy_version, categories, regime, source,"
        " action, country, subdivision, user_agent, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
        " NULL FROM consent_records_unchained ORDER BY id"
    )
    head = (0, GENESIS)
    insert = f"INSERT INTO consent_records ({COLUMNS}) VALUES ({MARKS})"
    for row in sealed_rows(iter(old), head):
        db.execute(insert, row_values(row))
        head = (row.sequence, row.record_hash)
    db.execute(
        "INSERT INTO consent_chain VALUES ('head', ?, ?), ('anchor', 0, ?)", (*head, GENESIS)
    )
    db.execute("DROP TABLE consent_records_unchained")


class SQLiteStore:
    def __init__(self, path: str, max_unknown_names: int = MAX_UNKNOWN_NAMES) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._max_unknown = max_unknown_names
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=10, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def _migrate(self) -> None:
        # The write lock first, then the version: gateway workers starting together must
        # not both apply the same migration.
        def migrate(db: sqlite3.Connection) -> None:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                if callable(script):
                    script(db)
                else:
                    for statement in script.split(";"):
                        if statement.strip():
                            db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

        self._transaction(migrate)

    def record_consent(self, record: ConsentRecord) -> None:
        def append(db: sqlite3.Connection) -> None:
            head = db.execute("SELECT seq, hash FROM consent_chain WHERE name = 'head'").fetchone()
            row = appended(record, (head[0], head[1]))
            db.execute(f"INSERT INTO consent_records ({COLUMNS}) VALUES ({MARKS})", row_values(row))
            db.execute(
                "UPDATE consent_chain SET seq = ?, hash = ? WHERE name = 'head'",
                (row.sequence, row.record_hash),
            )

        self._transaction(append)

    def consent_history(self, consent_id: str) -> list[ConsentRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {COLUMNS} FROM consent_records WHERE consent_id = ? ORDER BY seq",
                (consent_id,),
            ).fetchall()
        return [record for row in rows if (record := from_row(row).record) is not None]

    def erase_consent(self, consent_id: str) -> dict[str, int]:
        erased_on = datetime.now(UTC).date().isoformat()
        needle = consent_id.encode("utf-8")

        def erase(db: sqlite3.Connection) -> dict[str, int]:
            return {
                "consent_records": db.execute(
                    f"UPDATE consent_records SET {ERASE}, erased_on = ? WHERE consent_id = ?",
                    (erased_on, consent_id),
                ).rowcount,
                # Hits are redacted and hold no consent id; one a client put in a URL or an
                # event would be there all the same.
                "analytics_outbox": db.execute(
                    "DELETE FROM analytics_outbox WHERE instr(payload, ?) > 0", (needle,)
                ).rowcount,
                "unknown_cookies": db.execute(
                    "DELETE FROM unknown_cookies WHERE instr(name, ?) > 0", (consent_id,)
                ).rowcount,
                "seen_cookie_rules": db.execute(
                    "DELETE FROM seen_cookie_rules WHERE instr(rule, ?) > 0", (consent_id,)
                ).rowcount,
                "cookie_rule_vouchers": db.execute(
                    "DELETE FROM cookie_rule_vouchers WHERE instr(rule, ?) > 0", (consent_id,)
                ).rowcount,
            }

        # Freed space is overwritten, and the WAL copied back and emptied, so the erased
        # values are not left in the file either.
        with self._lock:
            self._db.execute("PRAGMA secure_delete = ON")
        try:
            erased = self._transaction(erase)
        finally:
            with self._lock:
                self._db.execute("PRAGMA secure_delete = OFF")
                if self._path != ":memory:":
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return erased

    def export_records(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[ConsentRecord]:
        query = f"SELECT {COLUMNS} FROM consent_records WHERE nonce IS NOT NULL"
        bounds: list[str] = []
        if since is not None:
            query += " AND decided_at >= ?"
            bounds.append(utc_text(since))
        if until is not None:
            query += " AND decided_at < ?"
            bounds.append(utc_text(until))
        for row in self._stream(query + " ORDER BY seq", bounds):
            record = from_row(row).record
            if record is not None:
                yield record

    def verify_records(self) -> VerifyResult:
        with self._reader() as db:
            db.execute("BEGIN")  # one snapshot: the chain's ends and its rows agree
            try:
                ends = dict(
                    (name, (seq, hash_))
                    for name, seq, hash_ in db.execute("SELECT name, seq, hash FROM consent_chain")
                )
                check = ChainCheck(ends["anchor"], ends["head"])
                for row in db.execute(f"SELECT {COLUMNS} FROM consent_records ORDER BY seq"):
                    found = from_row(row)
                    if not check.add(
                        found.sequence,
                        found.record,
                        found.nonce,
                        found.prev_hash,
                        found.record_hash,
                    ):
                        break
            finally:
                db.execute("COMMIT")
        return check.result()

    def purge_records(self, older_than: datetime, batch: int = 1000) -> int:
        def purge(db: sqlite3.Connection) -> int:
            anchor = db.execute("SELECT seq FROM consent_chain WHERE name = 'anchor'").fetchone()
            rows = [
                (seq, None if decided is None else datetime.fromisoformat(decided), hash_)
                for seq, decided, hash_ in db.execute(
                    "SELECT seq, decided_at, record_hash FROM consent_records WHERE seq > ?"
                    " ORDER BY seq LIMIT ?",
                    (anchor[0], batch),
                )
            ]
            count = purge_end(rows, older_than)
            if count:
                last, _, last_hash = rows[count - 1]
                db.execute("DELETE FROM consent_records WHERE seq <= ?", (last,))
                db.execute(
                    "UPDATE consent_chain SET seq = ?, hash = ? WHERE name = 'anchor'",
                    (last, last_hash),
                )
            return count

        total = 0
        while True:
            count = self._transaction(purge)
            total += count
            if count < batch:
                return total

    def _reader(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A connection of its own for long reads, so they hold up no writer (WAL readers
        see a snapshot); the shared one for an in-memory database."""
        if self._path == ":memory:":
            return _locked(self._lock, self._db)
        return contextlib.closing(
            sqlite3.connect(self._path, check_same_thread=False, timeout=10, isolation_level=None)
        )

    def _stream(self, query: str, parameters: Sequence[Any]) -> Iterator[Sequence[Any]]:
        """The rows of ``query``, read by cursor (never all at once; an in-memory database,
        small by nature, is read at once so the shared connection is not held)."""
        if self._path == ":memory:":
            with self._lock:
                rows = self._db.execute(query, parameters).fetchall()
            yield from rows
            return
        with self._reader() as db:
            yield from db.execute(query, parameters)

    def count_unknown_cookies(
        self, counts: Mapping[str, int], seen_at: datetime, errors: Mapping[str, int] | None = None
    ) -> None:
        seen = seen_at.astimezone(UTC).isoformat()
        rows = unknown_rows(counts, errors)

        def add(db: sqlite3.Connection) -> None:
            stored = db.execute("SELECT count(*) FROM unknown_cookies").fetchone()[0]
            for name, count, error in rows:
                if db.execute(
                    "UPDATE unknown_cookies SET count = count + ?, error = error + ?,"
                    " last_seen = ? WHERE name = ?",
                    (count, error, seen, name),
                ).rowcount:
                    continue
                if stored < self._max_unknown:
                    stored += 1
                else:  # (DELETE ... RETURNING needs SQLite 3.35)
                    evicted, smallest = db.execute(
                        "SELECT name, count FROM unknown_cookies ORDER BY count, last_seen LIMIT 1"
                    ).fetchone()
                    db.execute("DELETE FROM unknown_cookies WHERE name = ?", (evicted,))
                    count, error = count + smallest, error + smallest
                db.execute(
                    "INSERT INTO unknown_cookies (name, count, error, first_seen, last_seen)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (name, count, error, seen, seen),
                )

        self._transaction(add)

    def unknown_cookies(self, limit: int | None = None) -> list[UnknownCookie]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, count, first_seen, last_seen, error FROM unknown_cookies"
                " ORDER BY count - error DESC, count DESC, name LIMIT ?",
                (-1 if limit is None else limit,),
            ).fetchall()
        return [
            UnknownCookie(
                r[0], r[1], datetime.fromisoformat(r[2]), datetime.fromisoformat(r[3]), r[4]
            )
            for r in rows
        ]

    def note_cookie_rules(self, keys: Collection[str], seen_at: datetime) -> None:
        seen = seen_at.astimezone(UTC).isoformat()
        with self._lock:
            self._db.executemany(
                "INSERT OR IGNORE INTO seen_cookie_rules VALUES (?, ?)",
                [(clean_name(key), seen) for key in keys],
            )

    def cookie_rules_seen(self) -> set[str]:
        with self._lock:
            rows = self._db.execute("SELECT rule FROM seen_cookie_rules").fetchall()
        return {row[0] for row in rows}

    def vouch_cookie_rules(
        self,
        sent: Mapping[bytes, Collection[str]],
        seen_at: datetime,
        *,
        visitors: int,
        rules_per_visitor: int,
    ) -> set[str]:
        seen = seen_at.astimezone(UTC).isoformat()

        def vouch(db: sqlite3.Connection) -> set[str]:
            noted: set[str] = set()
            for visitor, keys in sent.items():
                vouched = db.execute(
                    "SELECT count(*) FROM cookie_rule_vouchers WHERE visitor = ?", (visitor,)
                ).fetchone()[0]
                for key in map(clean_name, keys):
                    if vouched >= rules_per_visitor:
                        break
                    if db.execute(
                        "SELECT 1 FROM seen_cookie_rules WHERE rule = ?", (key,)
                    ).fetchone():
                        continue
                    if not db.execute(
                        "INSERT OR IGNORE INTO cookie_rule_vouchers VALUES (?, ?)", (key, visitor)
                    ).rowcount:
                        continue
                    vouched += 1
                    count = db.execute(
                        "SELECT count(*) FROM cookie_rule_vouchers WHERE rule = ?", (key,)
                    ).fetchone()[0]
                    if count >= visitors:
                        db.execute(
                            "INSERT OR IGNORE INTO seen_cookie_rules VALUES (?, ?)", (key, seen)
                        )
                        noted.add(key)
            return noted

        return self._transaction(vouch)

    def reset_cookie_rules(self) -> int:
        def reset(db: sqlite3.Connection) -> int:
            db.execute("DELETE FROM cookie_rule_vouchers")
            return int(db.execute("DELETE FROM seen_cookie_rules").rowcount)

        return self._transaction(reset)

    def _transaction(self, work: Callable[[sqlite3.Connection], T], durable: bool = False) -> T:
        """``work`` in one write transaction; ``durable`` syncs the WAL before returning."""
        with self._lock:
            if durable:
                self._db.execute("PRAGMA synchronous=FULL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    result = work(self._db)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            finally:
                if durable:
                    self._db.execute("PRAGMA synchronous=NORMAL")
            return result

    def outbox_add(self, hits: Sequence[OutboxHit]) -> None:
        rows = [(h.hit_id, h.provider, h.payload, h.created_at) for h in hits]
        self._transaction(
            lambda db: db.executemany(
                "INSERT OR IGNORE INTO analytics_outbox (hit_id, provider, payload, created_at)"
                " VALUES (?, ?, ?, ?)",
                rows,
            ),
            durable=True,
        )

    def outbox_claim(
        self, provider: str, owner: str, limit: int, lease_seconds: float, now: float
    ) -> list[OutboxRow]:
        def claim(db: sqlite3.Connection) -> list[OutboxRow]:
            found = db.execute(
                "SELECT id, hit_id, provider, payload, created_at, attempts FROM analytics_outbox"
                " WHERE provider = ? AND lease_until <= ? AND not_before <= ? ORDER BY id LIMIT ?",
                (provider, now, now, limit),
            ).fetchall()
            ids = [row[0] for row in found]
            for chunk in _chunks(ids):
                db.execute(
                    "UPDATE analytics_outbox SET lease_until = ?, lease_owner = ?,"
                    f" attempts = attempts + 1 WHERE id IN ({_marks(chunk)})",
                    (now + lease_seconds, owner, *chunk),
                )
            return [OutboxRow(r[0], r[1], r[2], bytes(r[3]), r[4], r[5] + 1) for r in found]

        return self._transaction(claim)

    def outbox_done(self, row_ids: Sequence[int]) -> None:
        def delete(db: sqlite3.Connection) -> None:
            for chunk in _chunks(row_ids):
                db.execute(f"DELETE FROM analytics_outbox WHERE id IN ({_marks(chunk)})", chunk)

        self._transaction(delete)

    def outbox_retry(self, row_ids: Sequence[int], not_before: float) -> None:
        def release(db: sqlite3.Connection) -> None:
            for chunk in _chunks(row_ids):
                db.execute(
                    "UPDATE analytics_outbox SET lease_until = 0, lease_owner = NULL,"
                    f" not_before = ? WHERE id IN ({_marks(chunk)})",
                    (not_before, *chunk),
                )

        self._transaction(release)

    def outbox_due_now(self, provider: str, now: float) -> int:
        return self._transaction(
            lambda db: (
                db.execute(
                    "UPDATE analytics_outbox SET not_before = 0"
                    " WHERE provider = ? AND not_before > ? AND lease_until <= ?",
                    (provider, now, now),
                ).rowcount
            )
        )

    def outbox_trim(self, max_age_seconds: float, max_hits: int, now: float) -> TrimResult:
        def trim(db: sqlite3.Connection) -> TrimResult:
            cutoff = now - max_age_seconds
            expired = dict(
                db.execute(
                    "SELECT provider, count(*) FROM analytics_outbox WHERE created_at < ?"
                    " GROUP BY provider",
                    (cutoff,),
                ).fetchall()
            )
            if expired:
                db.execute("DELETE FROM analytics_outbox WHERE created_at < ?", (cutoff,))
            # An upper bound from the ids costs nothing; count only when it is over the limit
            # (a count reads the whole outbox, which holds up commits while it runs).
            remaining = db.execute(
                "SELECT coalesce(max(id) - min(id) + 1, 0) FROM analytics_outbox"
            ).fetchone()[0]
            if remaining > max_hits:
                remaining = db.execute("SELECT count(*) FROM analytics_outbox").fetchone()[0]
            overflow: dict[str, int] = {}
            excess = remaining - max_hits
            if excess > 0:
                last = db.execute(
                    "SELECT id FROM analytics_outbox ORDER BY id LIMIT 1 OFFSET ?", (excess - 1,)
                ).fetchone()[0]
                overflow = dict(
                    db.execute(
                        "SELECT provider, count(*) FROM analytics_outbox WHERE id <= ?"
                        " GROUP BY provider",
                        (last,),
                    ).fetchall()
                )
                db.execute("DELETE FROM analytics_outbox WHERE id <= ?", (last,))
                remaining -= excess
            return TrimResult(expired, overflow, remaining)

        return self._transaction(trim)

    def outbox_count(self, provider: str | None = None) -> int:
        with self._lock:
            if provider is None:
                row = self._db.execute("SELECT count(*) FROM analytics_outbox").fetchone()
            else:
                row = self._db.execute(
                    "SELECT count(*) FROM analytics_outbox WHERE provider = ?", (provider,)
                ).fetchone()
        return int(row[0])

    def salt_for(self, day: str, candidate: bytes, keep_after: str) -> bytes:
        def choose(db: sqlite3.Connection) -> bytes:
            db.execute("DELETE FROM analytics_salts WHERE day < ?", (keep_after,))
            db.execute("INSERT OR IGNORE INTO analytics_salts VALUES (?, ?)", (day, candidate))
            row = db.execute("SELECT salt FROM analytics_salts WHERE day = ?", (day,)).fetchone()
            return bytes(row[0])

        return self._transaction(choose)

    def salt_days(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT day FROM analytics_salts ORDER BY day").fetchall()
        return [row[0] for row in rows]

    def ping(self) -> None:
        with self._lock:
            self._db.execute("SELECT 1").fetchone()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add_daily_counts(self, day: str, counts: Mapping[tuple[str, str], int]) -> None:
        rows = [(kind, day, clean_name(label), count) for (kind, label), count in counts.items()]
        self._transaction(
            lambda db: db.executemany(
                "INSERT INTO daily_counts (kind, day, label, count) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (kind, day, label) DO UPDATE SET count = count + excluded.count",
                rows,
            )
        )

    def daily_counts(self, kind: str, since: str) -> list[DailyCount]:
        with self._lock:
            rows = self._db.execute(
                "SELECT day, kind, label, count FROM daily_counts WHERE kind = ? AND day >= ?"
                " ORDER BY day, label",
                (kind, since),
            ).fetchall()
        return [DailyCount(*row) for row in rows]

    def decision_counts(self, since: datetime) -> list[DecisionCount]:
        # decided_at is ISO 8601 in UTC: its first ten characters are the day, and text
        # order is time order.
        with self._lock:
            rows = self._db.execute(
                "SELECT substr(decided_at, 1, 10), regime, country, policy_version, categories,"
                " action, count(*) FROM consent_records WHERE decided_at >= ?"
                " GROUP BY 1, 2, 3, 4, 5, 6",
                (since.astimezone(UTC).isoformat(),),
            ).fetchall()
        return decision_rows(rows)


@contextlib.contextmanager
def _locked(lock: threading.Lock, db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    with lock:
        yield db


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]


def _marks(chunk: Sequence[int]) -> str:
    return ", ".join("?" * len(chunk))
