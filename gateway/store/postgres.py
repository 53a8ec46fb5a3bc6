"""PostgreSQL store for several gateway replicas: one connection per store behind a lock,
reopened when it drops. Consent writes are rare (one per decision), so a pool would only add
moving parts."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any, TypeVar

from gateway.store.base import MAX_UNKNOWN_NAMES, ConsentRecord, UnknownCookie, clean_name

try:
    import psycopg
except ImportError:  # pragma: no cover - depends on the installation
    psycopg = None  # type: ignore[assignment]

T = TypeVar("T")

MIGRATIONS = [
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
]


class PostgresStore:
    def __init__(
        self, url: str, *, table_prefix: str = "cg_", max_unknown_names: int = MAX_UNKNOWN_NAMES
    ) -> None:
        if psycopg is None:
            raise RuntimeError(
                "database_url is PostgreSQL but psycopg is not installed: "
                "pip install 'consent-gateway[postgres]'"
            )
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
            db.execute(script.format(p=self._p))
            db.execute(f"INSERT INTO {versions} VALUES (%s)", (number,))

    def record_consent(self, record: ConsentRecord) -> None:
        def insert(db: Any) -> None:
            db.execute(
                f"INSERT INTO {self._p}consent_records (consent_id, decided_at, policy_version,"
                " categories, regime, source, action, country, subdivision, user_agent)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    record.consent_id,
                    record.decided_at,
                    record.policy_version,
                    record.categories_json(),
                    record.regime,
                    record.source,
                    record.action,
                    record.country,
                    record.subdivision,
                    _text(record.user_agent),
                ),
            )

        self._run(insert)

    def consent_history(self, consent_id: str) -> list[ConsentRecord]:
        rows = self._run(
            lambda db: db.execute(
                "SELECT consent_id, decided_at, policy_version, categories::text, regime, source,"
                f" action, country, subdivision, user_agent FROM {self._p}consent_records"
                " WHERE consent_id = %s ORDER BY id",
                (consent_id,),
            ).fetchall()
        )
        return [ConsentRecord(r[0], r[1], r[2], json.loads(r[3]), *r[4:]) for r in rows]

    def count_unknown_cookies(self, counts: Mapping[str, int], seen_at: datetime) -> None:
        def upsert(db: Any) -> None:
            db.execute(f"LOCK TABLE {self._p}unknown_cookies IN SHARE ROW EXCLUSIVE MODE")
            stored = db.execute(f"SELECT count(*) FROM {self._p}unknown_cookies").fetchone()[0]
            for raw_name, count in counts.items():
                name = _text(clean_name(raw_name))
                updated = db.execute(
                    f"UPDATE {self._p}unknown_cookies SET count = count + %s, last_seen = %s"
                    " WHERE name = %s",
                    (count, seen_at, name),
                ).rowcount
                if not updated and stored < self._max_unknown:
                    db.execute(
                        f"INSERT INTO {self._p}unknown_cookies VALUES (%s, %s, %s, %s)",
                        (name, count, seen_at, seen_at),
                    )
                    stored += 1

        self._run(upsert)

    def unknown_cookies(self, limit: int | None = None) -> list[UnknownCookie]:
        rows = self._run(
            lambda db: db.execute(
                f"SELECT name, count, first_seen, last_seen FROM {self._p}unknown_cookies"
                " ORDER BY count DESC, name LIMIT %s",
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

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


def _text(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; such characters are replaced, never an error."""
    return value.replace("\x00", "\ufffd") if value is not None else None
