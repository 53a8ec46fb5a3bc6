"""Consent records and unknown cookie counts, on SQLite and on the real local PostgreSQL."""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from gateway.store import ConsentRecord, Store, open_store
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import MIGRATIONS, SQLiteStore

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened: Store = SQLiteStore(str(tmp_path / "consent.db"), max_unknown_names=50)
        yield opened
        opened.close()
        return
    prefix = f"t{secrets.token_hex(4)}_"
    opened = PostgresStore(POSTGRES_URL, table_prefix=prefix, max_unknown_names=50)
    yield opened
    opened.close()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
        for table in ("consent_records", "unknown_cookies", "seen_cookie_rules", "schema_version"):
            db.execute(f"DROP TABLE IF EXISTS {prefix}{table}")


def record(consent_id: str, action: str = "grant", seconds: int = 0) -> ConsentRecord:
    return ConsentRecord(
        consent_id=consent_id,
        decided_at=datetime(2026, 11, 22, 12, 0, tzinfo=UTC) + timedelta(seconds=seconds),
        policy_version="3",
        categories={"essential": True, "preferences": False, "analytics": True, "marketing": False},
        regime="opt-in",
        source="user",
        action=action,
        country="DE",
        subdivision="BE",
        user_agent="Firefox 133 / Linux / desktop",
    )


def test_records_round_trip_in_order(store: Store) -> None:
    first, second = record("abc", seconds=0), record("abc", "withdraw", seconds=5)
    store.record_consent(first)
    store.record_consent(second)
    store.record_consent(record("other"))
    assert store.consent_history("abc") == [first, second]
    assert store.consent_history("missing") == []


def test_concurrent_writers_lose_nothing(store: Store) -> None:
    def write(thread: int) -> None:
        for number in range(200):
            store.record_consent(record(f"c{thread}", seconds=number))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n in range(8):
        history = store.consent_history(f"c{n}")
        assert [r.decided_at.second + 60 * r.decided_at.minute for r in history] == [
            number for number in range(200)
        ]


def test_unknown_cookies_are_counted_and_bounded(store: Store) -> None:
    now = datetime.now(UTC)
    store.count_unknown_cookies({"mystery": 2, "caf\xe9\x01": 1, "x" * 10_000: 1}, now)
    store.count_unknown_cookies({"mystery": 3}, now + timedelta(seconds=1))
    found = {c.name: c for c in store.unknown_cookies()}
    assert found["mystery"].count == 5
    assert found["mystery"].last_seen > found["mystery"].first_seen
    assert "caf\xe9\x01" in found
    assert "x" * 256 in found
    store.count_unknown_cookies({f"random{i}": 1 for i in range(500)}, now)
    assert len(store.unknown_cookies()) == 50
    assert store.unknown_cookies(limit=1)[0].name == "mystery"


def test_seen_cookie_rules_are_kept_once_each(store: Store) -> None:
    seen_at = datetime(2026, 12, 1, tzinfo=UTC)
    store.note_cookie_rules({"exact:_ga", "prefix:_ga_"}, seen_at)
    store.note_cookie_rules({"exact:_ga", "exact:_fbp"}, seen_at + timedelta(hours=1))
    store.note_cookie_rules(set(), seen_at)
    assert store.cookie_rules_seen() == {"exact:_ga", "prefix:_ga_", "exact:_fbp"}


def test_sqlite_database_from_before_the_seen_rules_gains_them(tmp_path: Path) -> None:
    path = tmp_path / "older.db"
    before = next(i for i, script in enumerate(MIGRATIONS) if "seen_cookie_rules" in script)
    with sqlite3.connect(path) as db:  # a database as the migrations before it left it
        for script in MIGRATIONS[:before]:
            db.executescript(script)
        db.execute(f"PRAGMA user_version = {before}")
    store = SQLiteStore(str(path))
    store.note_cookie_rules({"exact:_ga"}, datetime(2026, 12, 1, tzinfo=UTC))
    assert store.cookie_rules_seen() == {"exact:_ga"}
    store.close()


def test_sqlite_keeps_data_across_reopening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'durable.db'}"
    first = open_store(url)
    first.record_consent(record("kept"))
    first.close()
    again = open_store(url)
    assert len(again.consent_history("kept")) == 1
    again.close()


def test_sqlite_database_of_an_older_schema_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()  # an empty database at schema version 0
    store = SQLiteStore(str(path))
    store.record_consent(record("new"))
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    store.close()


def test_unsupported_urls_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="sqlite:///"):
        open_store("mysql://localhost/db")
