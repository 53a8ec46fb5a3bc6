"""PostgreSQL store for several gateway replicas: one connection per store behind a lock,
reopened when it drops. Consent writes are rare (one per decision) and outbox writes come in
groups, so a pool would only add moving parts. Forwarders on every replica claim outbox hits
with ``FOR UPDATE SKIP LOCKED``: each hit is leased to one of them at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime
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
)

try:
    import psycopg
except ImportError:  # pragma: no cover - depends on the installation
    psycopg = None  # type: ignore[assignment]

T = TypeVar("T")


def require_psycopg() -> None:
    """Raises ``ValueError`` when the ``postgres`` extra is not installed."""
    if psycopg is None:
        raise ValueError(
            "database_url is PostgreSQL but psycopg is not installed: "
            "pip install 'consent-gateway[postgres]'"
        )


MIGRATIONS: list[str | Callable[[Any, str], None]] = [
    """
    CREATE TABLE IF NOT EXISTS {p}consent_records (
        id BIGSERIAL PRIMARY KEY,
        consent_id TEXT NOT NULL,
        decided_at TIMESTAMPTZ NOT NULL,
        policy_version TEXT NOT NULL,
        categories JSONB NOT NULL,
        regime TEXT NOT NULL,
        source TEXT NOT NULL,
        action TEXT NOT NULL,
        country TEXT,
        subdivision TEXT,
        user_agent TEXT
    );
    CREATE INDEX IF NOT EXISTS {p}consent_records_by_id ON {p}consent_records (consent_id, id);
    CREATE TABLE IF NOT EXISTS {p}unknown_cookies (
        name TEXT PRIMARY KEY,
        count BIGINT NOT NULL,
        first_seen TIMESTAMPTZ NOT NULL,
        last_seen TIMESTAMPTZ NOT NULL
    );
    """,
    # Built-in cookie rules seen on the site, for the banner's declaration (see sqlite.py).
    """
    CREATE TABLE IF NOT EXISTS {p}seen_cookie_rules (
        rule TEXT PRIMARY KEY,
        first_seen TIMESTAMPTZ NOT NULL
    );
    """,
    """
    CREATE TABLE IF NOT EXISTS {p}analytics_outbox (
        id BIGSERIAL PRIMARY KEY,
        hit_id TEXT NOT NULL UNIQUE,
        provider TEXT NOT NULL,
        payload BYTEA NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before DOUBLE PRECISION NOT NULL DEFAULT 0,
        lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
        lease_owner TEXT
    );
    CREATE INDEX IF NOT EXISTS {p}analytics_outbox_due ON {p}analytics_outbox (provider, id);
    CREATE TABLE IF NOT EXISTS {p}analytics_salts (
        day TEXT PRIMARY KEY,
        salt BYTEA NOT NULL
    );
    """,
    # The age limit finds expired hits without reading the whole outbox.
    "CREATE INDEX IF NOT EXISTS {p}analytics_outbox_age ON {p}analytics_outbox (created_at)",
    # Unknown names are counted by space-saving (see sqlite.py).
    """
    ALTER TABLE {p}unknown_cookies ADD COLUMN IF NOT EXISTS error BIGINT NOT NULL DEFAULT 0;
    CREATE INDEX IF NOT EXISTS {p}unknown_cookies_by_count
        ON {p}unknown_cookies (count, last_seen);
    """,
    # Visitors vouching for built-in rules not seen yet (see sqlite.py).
    """
    CREATE TABLE IF NOT EXISTS {p}cookie_rule_vouchers (
        rule TEXT NOT NULL,
        visitor BYTEA NOT NULL,
        PRIMARY KEY (rule, visitor)
    );
    CREATE INDEX IF NOT EXISTS {p}cookie_rule_vouchers_by_visitor
        ON {p}cookie_rule_vouchers (visitor);
    """,
    # Records form a hash chain (docs/records.md): the new fields, nullable content (an
    # erased record keeps only its place in the chain), the records kept so far sealed in
    # their order, and the chain's head and anchor.
    lambda db, p: _chain_records(db, p),
    # The admin page's daily sums and decisions by day (see sqlite.py).
    """
    CREATE TABLE IF NOT EXISTS {p}daily_counts (
        kind TEXT NOT NULL,
        day TEXT NOT NULL,
        label TEXT NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (kind, day, label)
    );
    CREATE INDEX IF NOT EXISTS {p}consent_records_by_time ON {p}consent_records (decided_at);
    """,
]
COLUMNS = ", ".join(RECORD_COLUMNS)
SELECT_COLUMNS = COLUMNS.replace("categories", "categories::text")
MARKS = ", ".join(["%s"] * len(RECORD_COLUMNS))
ERASE = ", ".join(f"{name} = NULL" for name in ERASED_COLUMNS)
EXPORT_ROWS = 2000  # rows a server-side cursor fetches at a time


def _chain_records(db: Any, p: str) -> None:
    table = f"{p}consent_records"
    content = ("consent_id", "decided_at", "policy_version", "categories", "regime", "source")
    db.execute(
        f"ALTER TABLE {table} "
        + ", ".join(f"ALTER COLUMN {name} DROP NOT NULL" for name in (*content, "action"))
        + ", ADD COLUMN seq BIGINT, ADD COLUMN method TEXT, ADD COLUMN path TEXT,"
        " ADD COLUMN layer TEXT, ADD COLUMN banner_hash TEXT, ADD COLUMN language TEXT,"
        " ADD COLUMN nonce TEXT, ADD COLUMN prev_hash TEXT, ADD COLUMN record_hash TEXT,"
        " ADD COLUMN erased_on DATE"
    )
    db.execute(f"CREATE TABLE {p}consent_chain (name TEXT PRIMARY KEY, seq BIGINT, hash TEXT)")
    head = (0, GENESIS)
    with db.cursor(name=f"{p}seal") as old:
        old.itersize = EXPORT_ROWS
        old.execute(f"SELECT id, {SELECT_COLUMNS} FROM {table} ORDER BY id")
        ids: list[int] = []

        def rows() -> Iterator[Any]:
            for row in old:
                ids.append(row[0])
                yield row[1:]

        with db.cursor() as update:
            for row in sealed_rows(rows(), head):
                update.execute(
                    f"UPDATE {table} SET seq = %s, nonce = %s, prev_hash = %s, record_hash = %s"
                    " WHERE id = %s",
                    (row.sequence, row.nonce, row.prev_hash, row.record_hash, ids.pop()),
                )
                head = (row.sequence, row.record_hash)
    db.execute(
        f"ALTER TABLE {table} ALTER COLUMN seq SET NOT NULL,"
        " ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN record_hash SET NOT NULL"
    )
    db.execute(f"CREATE UNIQUE INDEX {p}consent_records_by_seq ON {table} (seq)")
    db.execute(f"DROP INDEX IF EXISTS {p}consent_records_by_id")
    db.execute(f"CREATE INDEX {p}consent_records_by_id ON {table} (consent_id, seq)")
    db.execute(
        f"INSERT INTO {p}consent_chain VALUES ('head', %s, %s), ('anchor', 0, %s)",
        (*head, GENESIS),
    )


class PostgresStore:
    def __init__(
        self, url: str, *, table_prefix: str = "cg_", max_unknown_names: int = MAX_UNKNOWN_NAMES
    ) -> None:
        require_psycopg()
        if not table_prefix.replace("_", "").isalnum():
            raise ValueError("table_prefix may hold only letters, digits and '_'")
        self._url = url
        self._p = table_prefix
        self._max_unknown = max_unknown_names
        self._lock = threading.Lock()
        self._connection: Any = None
        self._run(self._migrate)

    def _run(self, work: Callable[[Any], T]) -> T:
        with self._lock:
            for attempt in (1, 2):
                if self._connection is None or self._connection.closed:
                    self._connection = psycopg.connect(self._url, autocommit=False)
                try:
                    with self._connection.transaction():
                        return work(self._connection)
                except psycopg.OperationalError:
                    self._connection.close()
                    self._connection = None
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

    def _migrate(self, db: Any) -> None:
        versions = f"{self._p}schema_version"
        db.execute(f"CREATE TABLE IF NOT EXISTS {versions} (version INTEGER NOT NULL)")
        db.execute(f"LOCK TABLE {versions}")
        row = db.execute(f"SELECT max(version) FROM {versions}").fetchone()
        current = row[0] or 0
        for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
            if callable(script):
                script(db, self._p)
            else:
                db.execute(script.format(p=self._p))
            db.execute(f"INSERT INTO {versions} VALUES (%s)", (number,))

    def record_consent(self, record: ConsentRecord) -> None:
        def append(db: Any) -> None:
            # The head row, locked until commit, serialises appends across replicas: the
            # chain never forks.
            head = db.execute(
                f"SELECT seq, hash FROM {self._p}consent_chain WHERE name = 'head' FOR UPDATE"
            ).fetchone()
            row = appended(record, (head[0], head[1]))
            db.execute(
                f"INSERT INTO {self._p}consent_records ({COLUMNS}) VALUES ({MARKS})",
                row_values(row),
            )
            db.execute(
                f"UPDATE {self._p}consent_chain SET seq = %s, hash = %s WHERE name = 'head'",
                (row.sequence, row.record_hash),
            )

        self._run(append)

    def consent_history(self, consent_id: str) -> list[ConsentRecord]:
        rows = self._run(
            lambda db: db.execute(
                f"SELECT {SELECT_COLUMNS} FROM {self._p}consent_records"
                " WHERE consent_id = %s ORDER BY seq",
                (consent_id,),
            ).fetchall()
        )
        return [record for row in rows if (record := from_row(row).record) is not None]

    def erase_consent(self, consent_id: str) -> dict[str, int]:
        p = self._p

        def erase(db: Any) -> dict[str, int]:
            return {
                "consent_records": db.execute(
                    f"UPDATE {p}consent_records SET {ERASE}, erased_on = CURRENT_DATE"
                    " WHERE consent_id = %s",
                    (consent_id,),
                ).rowcount,
                # Hits are redacted and hold no consent id; one a client put in a URL or an
                # event would be there all the same.
                "analytics_outbox": db.execute(
                    f"DELETE FROM {p}analytics_outbox WHERE position(%s in payload) > 0",
                    (consent_id.encode("utf-8"),),
                ).rowcount,
                "unknown_cookies": db.execute(
                    f"DELETE FROM {p}unknown_cookies WHERE strpos(name, %s) > 0", (consent_id,)
                ).rowcount,
                "seen_cookie_rules": db.execute(
                    f"DELETE FROM {p}seen_cookie_rules WHERE strpos(rule, %s) > 0",
                    (consent_id,),
                ).rowcount,
                "cookie_rule_vouchers": db.execute(
                    f"DELETE FROM {p}cookie_rule_vouchers WHERE strpos(rule, %s) > 0",
                    (consent_id,),
                ).rowcount,
            }

        return self._run(erase)

    def export_records(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[ConsentRecord]:
        query = f"SELECT {SELECT_COLUMNS} FROM {self._p}consent_records WHERE nonce IS NOT NULL"
        bounds: list[datetime] = []
        if since is not None:
            query += " AND decided_at >= %s"
            bounds.append(since)
        if until is not None:
            query += " AND decided_at < %s"
            bounds.append(until)
        with psycopg.connect(self._url) as db:
            for row in _server_side(db, query + " ORDER BY seq", bounds):
                record = from_row(row).record
                if record is not None:
                    yield record

    def verify_records(self) -> VerifyResult:
        with psycopg.connect(self._url) as db:
            # One snapshot: the chain's ends and its rows agree.
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            ends = {
                name: (seq, hash_)
                for name, seq, hash_ in db.execute(
                    f"SELECT name, seq, hash FROM {self._p}consent_chain"
                ).fetchall()
            }
            check = ChainCheck(ends["anchor"], ends["head"])
            query = f"SELECT {SELECT_COLUMNS} FROM {self._p}consent_records ORDER BY seq"
            for row in _server_side(db, query, ()):
                found = from_row(row)
                if not check.add(
                    found.sequence, found.record, found.nonce, found.prev_hash, found.record_hash
                ):
                    break
        return check.result()

    def purge_records(self, older_than: datetime, batch: int = 1000) -> int:
        p = self._p

        def purge(db: Any) -> int:
            # The anchor row, locked until commit: replicas purging at once take turns, and
            # each starts where the last one stopped.
            anchor = db.execute(
                f"SELECT seq FROM {p}consent_chain WHERE name = 'anchor' FOR UPDATE"
            ).fetchone()
            rows = db.execute(
                f"SELECT seq, decided_at, record_hash FROM {p}consent_records WHERE seq > %s"
                " ORDER BY seq LIMIT %s",
                (anchor[0], batch),
            ).fetchall()
            count = purge_end(rows, older_than)
            if count:
                last, _, last_hash = rows[count - 1]
                db.execute(f"DELETE FROM {p}consent_records WHERE seq <= %s", (last,))
                db.execute(
                    f"UPDATE {p}consent_chain SET seq = %s, hash = %s WHERE name = 'anchor'",
                    (last, last_hash),
                )
            return count

        total = 0
        while True:
            count = self._run(purge)
            total += count
            if count < batch:
                return total

    def count_unknown_cookies(
        self, counts: Mapping[str, int], seen_at: datetime, errors: Mapping[str, int] | None = None
    ) -> None:
        table = f"{self._p}unknown_cookies"
        rows = unknown_rows(counts, errors)

        def add(db: Any) -> None:
            # One writer at a time, so replicas agree on which name is the least counted.
            db.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
            stored = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for raw_name, count, error in rows:
                name = _text(raw_name)
                if db.execute(
                    f"UPDATE {table} SET count = count + %s, error = error + %s, last_seen = %s"
                    " WHERE name = %s",
                    (count, error, seen_at, name),
                ).rowcount:
                    continue
                if stored < self._max_unknown:
                    stored += 1
                else:
                    smallest = db.execute(
                        f"DELETE FROM {table} WHERE name = (SELECT name FROM {table}"
                        " ORDER BY count, last_seen LIMIT 1) RETURNING count"
                    ).fetchone()[0]
                    count, error = count + smallest, error + smallest
                db.execute(
                    f"INSERT INTO {table} (name, count, error, first_seen, last_seen)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (name, count, error, seen_at, seen_at),
                )

        self._run(add)

    def unknown_cookies(self, limit: int | None = None) -> list[UnknownCookie]:
        rows = self._run(
            lambda db: db.execute(
                f"SELECT name, count, first_seen, last_seen, error FROM {self._p}unknown_cookies"
                " ORDER BY count - error DESC, count DESC, name LIMIT %s",
                (limit,),
            ).fetchall()
        )
        return [UnknownCookie(*row) for row in rows]

    def note_cookie_rules(self, keys: Collection[str], seen_at: datetime) -> None:
        def insert(db: Any) -> None:
            with db.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {self._p}seen_cookie_rules VALUES (%s, %s)"
                    " ON CONFLICT (rule) DO NOTHING",
                    [(_text(clean_name(key)), seen_at) for key in keys],
                )

        self._run(insert)

    def cookie_rules_seen(self) -> set[str]:
        rows = self._run(
            lambda db: db.execute(f"SELECT rule FROM {self._p}seen_cookie_rules").fetchall()
        )
        return {row[0] for row in rows}

    def vouch_cookie_rules(
        self,
        sent: Mapping[bytes, Collection[str]],
        seen_at: datetime,
        *,
        visitors: int,
        rules_per_visitor: int,
    ) -> set[str]:
        vouchers, seen = f"{self._p}cookie_rule_vouchers", f"{self._p}seen_cookie_rules"

        def vouch(db: Any) -> set[str]:
            # One writer at a time, so replicas agree on each visitor's count.
            db.execute(f"LOCK TABLE {vouchers} IN SHARE ROW EXCLUSIVE MODE")
            noted: set[str] = set()
            for visitor, keys in sent.items():
                vouched = db.execute(
                    f"SELECT count(*) FROM {vouchers} WHERE visitor = %s", (visitor,)
                ).fetchone()[0]
                for key in map(clean_name, keys):
                    if vouched >= rules_per_visitor:
                        break
                    if db.execute(f"SELECT 1 FROM {seen} WHERE rule = %s", (key,)).fetchone():
                        continue
                    if not db.execute(
                        f"INSERT INTO {vouchers} VALUES (%s, %s) ON CONFLICT DO NOTHING",
                        (key, visitor),
                    ).rowcount:
                        continue
                    vouched += 1
                    count = db.execute(
                        f"SELECT count(*) FROM {vouchers} WHERE rule = %s", (key,)
                    ).fetchone()[0]
                    if count >= visitors:
                        db.execute(
                            f"INSERT INTO {seen} VALUES (%s, %s) ON CONFLICT DO NOTHING",
                            (key, seen_at),
                        )
                        noted.add(key)
            return noted

        return self._run(vouch)

    def reset_cookie_rules(self) -> int:
        def reset(db: Any) -> int:
            db.execute(f"DELETE FROM {self._p}cookie_rule_vouchers")
            return int(db.execute(f"DELETE FROM {self._p}seen_cookie_rules").rowcount)

        return self._run(reset)

    def outbox_add(self, hits: Sequence[OutboxHit]) -> None:
        rows = [(h.hit_id, h.provider, h.payload, h.created_at) for h in hits]

        def insert(db: Any) -> None:
            with db.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {self._p}analytics_outbox (hit_id, provider, payload,"
                    " created_at) VALUES (%s, %s, %s, %s) ON CONFLICT (hit_id) DO NOTHING",
                    rows,
                )

        self._run(insert)

    def outbox_claim(
        self, provider: str, owner: str, limit: int, lease_seconds: float, now: float
    ) -> list[OutboxRow]:
        table = f"{self._p}analytics_outbox"
        rows = self._run(
            lambda db: db.execute(
                f"UPDATE {table} SET lease_until = %s, lease_owner = %s, attempts = attempts + 1"
                f" WHERE id IN (SELECT id FROM {table} WHERE provider = %s AND lease_until <= %s"
                " AND not_before <= %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
                " RETURNING id, hit_id, provider, payload, created_at, attempts",
                (now + lease_seconds, owner, provider, now, now, limit),
            ).fetchall()
        )
        return sorted(
            (OutboxRow(r[0], r[1], r[2], bytes(r[3]), r[4], r[5]) for r in rows),
            key=lambda row: row.row_id,
        )

    def outbox_done(self, row_ids: Sequence[int]) -> None:
        self._run(
            lambda db: db.execute(
                f"DELETE FROM {self._p}analytics_outbox WHERE id = ANY(%s)", (list(row_ids),)
            )
        )

    def outbox_retry(self, row_ids: Sequence[int], not_before: float) -> None:
        self._run(
            lambda db: db.execute(
                f"UPDATE {self._p}analytics_outbox SET lease_until = 0, lease_owner = NULL,"
                " not_before = %s WHERE id = ANY(%s)",
                (not_before, list(row_ids)),
            )
        )

    def outbox_due_now(self, provider: str, now: float) -> int:
        return int(
            self._run(
                lambda db: (
                    db.execute(
                        f"UPDATE {self._p}analytics_outbox SET not_before = 0"
                        " WHERE provider = %s AND not_before > %s AND lease_until <= %s",
                        (provider, now, now),
                    ).rowcount
                )
            )
        )

    def outbox_trim(self, max_age_seconds: float, max_hits: int, now: float) -> TrimResult:
        table = f"{self._p}analytics_outbox"

        def trim(db: Any) -> TrimResult:
            expired = dict(
                db.execute(
                    f"WITH gone AS (DELETE FROM {table} WHERE created_at < %s RETURNING provider)"
                    " SELECT provider, count(*) FROM gone GROUP BY provider",
                    (now - max_age_seconds,),
                ).fetchall()
            )
            # An upper bound from the ids costs nothing; count only when it is over the limit.
            remaining = db.execute(
                f"SELECT coalesce(max(id) - min(id) + 1, 0) FROM {table}"
            ).fetchone()[0]
            if remaining > max_hits:
                remaining = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            overflow: dict[str, int] = {}
            excess = remaining - max_hits
            if excess > 0:
                overflow = dict(
                    db.execute(
                        f"WITH gone AS (DELETE FROM {table} WHERE id IN (SELECT id FROM {table}"
                        " ORDER BY id LIMIT %s) RETURNING provider)"
                        " SELECT provider, count(*) FROM gone GROUP BY provider",
                        (excess,),
                    ).fetchall()
                )
                remaining -= sum(overflow.values())
            return TrimResult(expired, overflow, remaining)

        return self._run(trim)

    def outbox_count(self, provider: str | None = None) -> int:
        table = f"{self._p}analytics_outbox"
        if provider is None:
            row = self._run(lambda db: db.execute(f"SELECT count(*) FROM {table}").fetchone())
        else:
            row = self._run(
                lambda db: db.execute(
                    f"SELECT count(*) FROM {table} WHERE provider = %s", (provider,)
                ).fetchone()
            )
        return int(row[0])

    def salt_for(self, day: str, candidate: bytes, keep_after: str) -> bytes:
        table = f"{self._p}analytics_salts"

        def choose(db: Any) -> bytes:
            db.execute(f"DELETE FROM {table} WHERE day < %s", (keep_after,))
            db.execute(
                f"INSERT INTO {table} VALUES (%s, %s) ON CONFLICT (day) DO NOTHING",
                (day, candidate),
            )
            return bytes(
                db.execute(f"SELECT salt FROM {table} WHERE day = %s", (day,)).fetchone()[0]
            )

        return self._run(choose)

    def salt_days(self) -> list[str]:
        rows = self._run(
            lambda db: db.execute(
                f"SELECT day FROM {self._p}analytics_salts ORDER BY day"
            ).fetchall()
        )
        return [row[0] for row in rows]

    def ping(self) -> None:
        self._run(lambda db: db.execute("SELECT 1").fetchone())

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def add_daily_counts(self, day: str, counts: Mapping[tuple[str, str], int]) -> None:
        rows = [
            (kind, day, _text(clean_name(label)), count) for (kind, label), count in counts.items()
        ]
        table = f"{self._p}daily_counts"

        def add(db: Any) -> None:
            with db.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {table} AS t (kind, day, label, count)"
                    " VALUES (%s, %s, %s, %s) ON CONFLICT (kind, day, label)"
                    " DO UPDATE SET count = t.count + excluded.count",
                    rows,
                )

        self._run(add)

    def daily_counts(self, kind: str, since: str) -> list[DailyCount]:
        rows = self._run(
            lambda db: db.execute(
                f"SELECT day, kind, label, count FROM {self._p}daily_counts"
                " WHERE kind = %s AND day >= %s ORDER BY day, label",
                (kind, since),
            ).fetchall()
        )
        return [DailyCount(*row) for row in rows]

    def decision_counts(self, since: datetime) -> list[DecisionCount]:
        rows = self._run(
            lambda db: db.execute(
                "SELECT to_char(decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), regime, country,"
                " policy_version, categories::text, action, count(*)"
                f" FROM {self._p}consent_records WHERE decided_at >= %s"
                " GROUP BY 1, 2, 3, 4, 5, 6",
                (since,),
            ).fetchall()
        )
        return decision_rows(rows)


def _server_side(db: Any, query: str, parameters: Sequence[Any]) -> Iterator[Any]:
    """The rows of ``query`` through a server-side cursor, ``EXPORT_ROWS`` at a time: a
    table of any size streams in constant memory."""
    with db.cursor(name="cg_stream") as cursor:
        cursor.itersize = EXPORT_ROWS
        cursor.execute(query, parameters)
        yield from cursor


def _text(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; such characters are replaced, never an error."""
    return value.replace("\x00", "\ufffd") if value is not None else None
