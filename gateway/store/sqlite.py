"""SQLite store: one connection in WAL mode, guarded by a lock (SQLite writes one at a time
anyway, and a single connection keeps ``:memory:`` databases working)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection, Mapping
from datetime import UTC, datetime

from gateway.store.base import (
    MAX_UNKNOWN_NAMES,
    ConsentRecord,
    UnknownCookie,
    clean_name,
)

MIGRATIONS = [
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
    # (see gateway/declaration.py): the banner's cookie declaration lists them.
    """
    CREATE TABLE seen_cookie_rules (
        rule TEXT PRIMARY KEY,
        first_seen TEXT NOT NULL
    );
    """,
]


class SQLiteStore:
    def __init__(self, path: str, max_unknown_names: int = MAX_UNKNOWN_NAMES) -> None:
        self._lock = threading.Lock()
        self._max_unknown = max_unknown_names
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=10, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    def record_consent(self, record: ConsentRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO consent_records (consent_id, decided_at, policy_version, categories,"
                " regime, source, action, country, subdivision, user_agent)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.consent_id,
                    record.decided_at.astimezone(UTC).isoformat(),
                    record.policy_version,
                    record.categories_json(),
                    record.regime,
                    record.source,
                    record.action,
                    record.country,
                    record.subdivision,
                    record.user_agent,
                ),
            )

    def consent_history(self, consent_id: str) -> list[ConsentRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT consent_id, decided_at, policy_version, categories, regime, source,"
                " action, country, subdivision, user_agent FROM consent_records"
                " WHERE consent_id = ? ORDER BY id",
                (consent_id,),
            ).fetchall()
        return [
            ConsentRecord(
                row[0], datetime.fromisoformat(row[1]), row[2], json.loads(row[3]), *row[4:]
            )
            for row in rows
        ]

    def count_unknown_cookies(self, counts: Mapping[str, int], seen_at: datetime) -> None:
        seen = seen_at.astimezone(UTC).isoformat()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                stored = self._db.execute("SELECT count(*) FROM unknown_cookies").fetchone()[0]
                for raw_name, count in counts.items():
                    name = clean_name(raw_name)
                    updated = self._db.execute(
                        "UPDATE unknown_cookies SET count = count + ?, last_seen = ?"
                        " WHERE name = ?",
                        (count, seen, name),
                    ).rowcount
                    if not updated and stored < self._max_unknown:
                        self._db.execute(
                            "INSERT INTO unknown_cookies VALUES (?, ?, ?, ?)",
                            (name, count, seen, seen),
                        )
                        stored += 1
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def unknown_cookies(self, limit: int | None = None) -> list[UnknownCookie]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, count, first_seen, last_seen FROM unknown_cookies"
                " ORDER BY count DESC, name LIMIT ?",
                (-1 if limit is None else limit,),
            ).fetchall()
        return [
            UnknownCookie(r[0], r[1], datetime.fromisoformat(r[2]), datetime.fromisoformat(r[3]))
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

    def close(self) -> None:
        with self._lock:
            self._db.close()
