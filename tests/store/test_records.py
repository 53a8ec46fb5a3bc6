"""Consent records as a hash chain: appends from several replicas, tampering found by
``verify_records``, erasure that leaves no trace of the id, retention purges, export, and
databases from before the chain. On SQLite and the real local PostgreSQL."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gateway.store import ConsentRecord, OutboxHit, Store, sqlite_path
from gateway.store.postgres import MIGRATIONS as PG_MIGRATIONS
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import MIGRATIONS, SQLiteStore
from tests.support.postgres import fresh_schema
from tests.support.tables import traces

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def record(consent_id: str, days: float = 0, **fields: Any) -> ConsentRecord:
    values: dict[str, Any] = {
        "consent_id": consent_id,
        "decided_at": START + timedelta(days=days),
        "policy_version": "3",
        "categories": {"essential": True, "analytics": days % 2 == 0, "marketing": False},
        "regime": "opt-in",
        "source": "user",
        "action": "grant",
        "country": "DE",
        "subdivision": None,
        "user_agent": "Firefox 133 / Linux / desktop",
        "method": "custom",
        "path": "/shop",
        "layer": "preferences",
        "banner_hash": "ab" * 32,
        "language": "de",
    }
    return ConsentRecord(**{**values, **fields})


def open_replica(database_url: str) -> Store:
    path = sqlite_path(database_url)
    if path is not None:
        return SQLiteStore(path)
    return PostgresStore(database_url)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_replica(database_url)
    yield opened
    opened.close()


def execute(database_url: str, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
    """Run ``sql`` on the database behind the gateway's back (as an intruder or a DBA
    would), with ``?`` placeholders."""
    path = sqlite_path(database_url)
    if path is not None:
        with sqlite3.connect(path) as db:
            return db.execute(sql, parameters).fetchall()
    with psycopg.connect(database_url, autocommit=True) as db:
        cursor = db.execute(sql.replace("?", "%s").replace("consent_", "cg_consent_"), parameters)
        return cursor.fetchall() if cursor.description else []


def test_records_keep_every_field_and_form_a_chain(store: Store) -> None:
    store.record_consent(record("one", 0))
    store.record_consent(record("two", 1, method="accept_all", layer="banner", path=None))
    store.record_consent(record("one", 2, method="withdraw", country=None, user_agent="a\x00b"))
    first, third = store.consent_history("one")
    assert first.content() == record("one", 0)
    assert third.content() == record(
        "one", 2, method="withdraw", country=None, user_agent="a\ufffdb"
    )
    assert (first.sequence, third.sequence) == (1, 3)
    second = store.consent_history("two")[0]
    assert first.prev_hash == "0" * 64
    assert second.prev_hash == first.record_hash
    assert third.prev_hash == second.record_hash
    result = store.verify_records()
    assert result.ok, result
    assert (result.checked, result.head_sequence, result.head_hash) == (3, 3, third.record_hash)


def test_replicas_appending_at_once_never_fork_the_chain_or_lose_a_record(
    database_url: str,
) -> None:
    replicas = [open_replica(database_url) for _ in range(4)]

    def write(number: int) -> None:
        for n in range(50):
            replicas[number].record_consent(record(f"r{number}", n))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = replicas[0].verify_records()
    assert result.ok, result
    assert result.checked == result.head_sequence == 200
    for number in range(4):
        history = replicas[number].consent_history(f"r{number}")
        assert [r.decided_at for r in history] == [START + timedelta(days=n) for n in range(50)]
    for opened in replicas:
        opened.close()


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("UPDATE consent_records SET categories = ? WHERE seq = 7", "does not match its hash"),
        ("UPDATE consent_records SET record_hash = ? WHERE seq = 7", "does not match its hash"),
        ("UPDATE consent_records SET prev_hash = ? WHERE seq = 7", "does not link"),
        ("DELETE FROM consent_records WHERE seq = 7", "records are missing"),
    ],
)
def test_verify_names_the_first_record_changed_in_the_database(
    store: Store, database_url: str, sql: str, reason: str
) -> None:
    for n in range(12):
        store.record_consent(record(f"v{n % 3}", n))
    assert store.verify_records().ok
    parameters: tuple[Any, ...] = ()
    if "categories" in sql:
        parameters = ('{"analytics": true, "essential": true, "marketing": true}',)
    elif "_hash" in sql:
        parameters = ("f" * 64,)
    execute(database_url, sql, parameters)
    result = store.verify_records()
    assert not result.ok
    assert result.first_bad == (8 if "DELETE" in sql else 7)  # the record after a gap
    assert reason in (result.reason or "")


def test_records_removed_at_the_end_are_found(store: Store, database_url: str) -> None:
    for n in range(5):
        store.record_consent(record("tail", n))
    execute(database_url, "DELETE FROM consent_records WHERE seq >= 4")
    result = store.verify_records()
    assert (result.ok, result.first_bad) == (False, 4)
    assert "removed" in (result.reason or "")


def test_erasure_leaves_no_trace_of_the_id_and_the_chain_still_verifies(
    store: Store, database_url: str
) -> None:
    gone, kept = "Q2hhaW5lZFJlY29yZElk", "S2VwdFJlY29yZElkQUJD"
    for n in range(6):
        store.record_consent(record(gone if n % 2 else kept, n))
    # A client could put the id anywhere: in a page URL of an analytics hit, a cookie name.
    payload = f'{{"url": "https://shop.example/?cid={gone}"}}'.encode()
    store.outbox_add([OutboxHit("h1", "ga4", payload, 1000.0), OutboxHit("h2", "ga4", b"{}", 1.0)])
    store.count_unknown_cookies({f"x_{gone}": 1, "other": 1}, START)
    store.note_cookie_rules({f"exact:{gone}"}, START)
    assert traces(database_url, gone)
    erased = store.erase_consent(gone)
    assert erased["consent_records"] == 3
    assert erased["analytics_outbox"] == 1
    assert erased["unknown_cookies"] == 1
    assert erased["seen_cookie_rules"] == 1
    assert traces(database_url, gone) == []
    assert store.consent_history(gone) == []
    assert len(store.consent_history(kept)) == 3
    assert store.outbox_count() == 1
    result = store.verify_records()
    assert result.ok, result
    assert (result.checked, result.erased) == (6, 3)
    assert store.erase_consent(gone)["consent_records"] == 0


def test_purge_removes_old_records_keeps_newer_and_moves_the_anchor(store: Store) -> None:
    for n in range(30):
        store.record_consent(record(f"p{n}", n))
    store.erase_consent("p25")  # an erased record among the newer ones stays
    purged = store.purge_records(START + timedelta(days=20), batch=7)
    assert purged == 20
    assert store.consent_history("p19") == []
    assert [r.sequence for r in store.consent_history("p20")] == [21]
    result = store.verify_records()
    assert result.ok, result
    assert (result.anchor_sequence, result.checked, result.erased) == (20, 10, 1)
    assert store.purge_records(START + timedelta(days=20), batch=7) == 0
    store.record_consent(record("after", 40))
    assert store.verify_records().ok


def test_replicas_purging_at_once_purge_each_record_once(database_url: str) -> None:
    writer = open_replica(database_url)
    for n in range(300):
        writer.record_consent(record(f"c{n}", n / 10))
    replicas = [open_replica(database_url) for _ in range(3)]
    counts: list[int] = []
    limit = START + timedelta(days=20)  # records 0..199 are older

    def purge(opened: Store) -> None:
        counts.append(opened.purge_records(limit, batch=9))

    threads = [threading.Thread(target=purge, args=(opened,)) for opened in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 200
    result = writer.verify_records()
    assert result.ok, result
    assert (result.anchor_sequence, result.checked) == (200, 100)
    for opened in [writer, *replicas]:
        opened.close()


def test_export_streams_live_records_in_a_time_range(store: Store) -> None:
    for n in range(10):
        store.record_consent(record(f"e{n}", n))
    store.erase_consent("e4")
    found = store.export_records(START + timedelta(days=2), START + timedelta(days=6))
    assert [r.consent_id for r in found] == ["e2", "e3", "e5"]
    assert [r.sequence for r in store.export_records()] == [1, 2, 3, 4, 6, 7, 8, 9, 10]


OLD_ROW = (
    "old-id",
    "2025-06-01T10:00:00+00:00",
    "2",
    '{"analytics": true, "essential": true}',
    "opt-in",
    "user",
    "grant",
    "FR",
    None,
    None,
)


def test_sqlite_records_from_before_the_chain_are_sealed_in_order(tmp_path: Path) -> None:
    path = tmp_path / "older.db"
    before = next(i for i, script in enumerate(MIGRATIONS) if callable(script))
    with sqlite3.connect(path) as db:  # a database as the migrations before it left it
        for script in MIGRATIONS[:before]:
            assert isinstance(script, str)
            db.executescript(script)
        db.execute(f"PRAGMA user_version = {before}")
        for _ in range(2):
            db.execute(
                "INSERT INTO consent_records (consent_id, decided_at, policy_version, categories,"
                " regime, source, action, country, subdivision, user_agent)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                OLD_ROW,
            )
    store = SQLiteStore(str(path))
    old = store.consent_history("old-id")
    assert [(r.sequence, r.method, r.country) for r in old] == [(1, None, "FR"), (2, None, "FR")]
    assert old[0].decided_at == datetime(2025, 6, 1, 10, tzinfo=UTC)
    store.record_consent(record("new"))
    result = store.verify_records()
    assert result.ok and result.checked == 3, result
    store.close()


@pytest.mark.postgres
def test_postgres_records_from_before_the_chain_are_sealed_in_order() -> None:
    with fresh_schema() as database_url:
        sealed_on_postgres(database_url)


def sealed_on_postgres(database_url: str) -> None:
    before = next(i for i, script in enumerate(PG_MIGRATIONS) if callable(script))
    with psycopg.connect(database_url, autocommit=True) as db:
        db.execute("CREATE TABLE cg_schema_version (version INTEGER NOT NULL)")
        for number, script in enumerate(PG_MIGRATIONS[:before], start=1):
            assert isinstance(script, str)
            db.execute(script.format(p="cg_"))
            db.execute("INSERT INTO cg_schema_version VALUES (%s)", (number,))
        for _ in range(2):
            db.execute(
                "INSERT INTO cg_consent_records (consent_id, decided_at, policy_version,"
                " categories, regime, source, action, country, subdivision, user_agent)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                OLD_ROW,
            )
    store = PostgresStore(database_url)
    old = store.consent_history("old-id")
    assert [(r.sequence, r.method, r.country) for r in old] == [(1, None, "FR"), (2, None, "FR")]
    store.record_consent(record("new"))
    result = store.verify_records()
    assert result.ok and result.checked == 3, result
    store.close()


APPEND = """
import sys
from datetime import UTC, datetime, timedelta
from gateway.store import ConsentRecord, open_store
store = open_store(sys.argv[1])
for n in range(100):
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n)
    store.record_consent(
        ConsentRecord(sys.argv[2], at, "1", {"essential": True}, "opt-in", "user", "grant",
                      None, None, None, method="reject_all", layer="api")
    )
store.close()
"""


@pytest.mark.slow
def test_processes_appending_at_once_never_fork_the_chain(database_url: str) -> None:
    open_replica(database_url).close()  # migrated once, before they start
    root = Path(__file__).resolve().parents[2]
    writers = [
        subprocess.Popen([sys.executable, "-c", APPEND, database_url, f"p{n}"], cwd=root)
        for n in range(3)
    ]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0, 0]
    store = open_replica(database_url)
    result = store.verify_records()
    assert result.ok, result
    assert result.checked == result.head_sequence == 300
    assert [len(store.consent_history(f"p{n}")) for n in range(3)] == [100, 100, 100]
    store.close()
