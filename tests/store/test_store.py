"""Consent records and unknown cookie counts, on SQLite and on the real local PostgreSQL."""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from gateway.store import ConsentRecord, OutboxHit, Store, open_store, sqlite_path
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import MIGRATIONS, SQLiteStore
from tests.support.postgres import POSTGRES_URL, drop_tables


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
    drop_tables(prefix)


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
    assert [r.content() for r in store.consent_history("abc")] == [first, second]
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
    assert found["mystery"].error == 0


def test_a_full_table_keeps_a_name_many_send_among_names_sent_once(store: Store) -> None:
    now = datetime.now(UTC)
    store.count_unknown_cookies({f"flood{i}": 1 for i in range(100)}, now)  # full at 50
    for batch in range(10):  # 30 sightings of one name, 1,100 of names sent once each
        seen_at = now + timedelta(seconds=batch + 1)
        flood = {f"flood{batch}-{i}": 1 for i in range(100)}
        store.count_unknown_cookies({"mystery": 3, **flood}, seen_at)
    found = store.unknown_cookies()
    assert len(found) == 50
    first = found[0]
    assert first.name == "mystery"
    assert first.count - first.error <= 30 <= first.count  # the space-saving bounds
    assert all(cookie.count - cookie.error <= 1 for cookie in found[1:])


def test_seen_cookie_rules_are_kept_once_each(store: Store) -> None:
    seen_at = datetime(2026, 12, 1, tzinfo=UTC)
    store.note_cookie_rules({"exact:_ga", "prefix:_ga_"}, seen_at)
    store.note_cookie_rules({"exact:_ga", "exact:_fbp"}, seen_at + timedelta(hours=1))
    store.note_cookie_rules(set(), seen_at)
    assert store.cookie_rules_seen() == {"exact:_ga", "prefix:_ga_", "exact:_fbp"}


def test_replicas_counting_at_once_keep_every_count_and_the_frequent_names(
    database_url: str,
) -> None:
    def replica() -> Store:
        path = sqlite_path(database_url)
        if path is not None:
            return SQLiteStore(path, max_unknown_names=50)
        return PostgresStore(database_url, max_unknown_names=50)

    replicas = [replica() for _ in range(4)]
    now = datetime.now(UTC)

    def write(number: int) -> None:
        for batch in range(20):
            flood = {f"r{number}-{batch}-{i}": 1 for i in range(30)}
            replicas[number].count_unknown_cookies({f"real{number}": 5, **flood}, now)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = replicas[0].unknown_cookies()
    assert len(found) == 50
    assert sum(cookie.count for cookie in found) == 4 * 20 * 35  # space-saving keeps the total
    assert {cookie.name for cookie in found[:4]} == {"real0", "real1", "real2", "real3"}
    for opened in replicas:
        opened.close()


def test_a_rule_is_seen_once_enough_visitors_vouch_each_within_its_cap(store: Store) -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    made_up = [f"exact:made_up_{number}" for number in range(10)]
    vouch = partial(store.vouch_cookie_rules, seen_at=at, visitors=3, rules_per_visitor=4)
    assert vouch({b"one": made_up, b"two": made_up}) == set()  # each for the first 4
    assert vouch({b"one": made_up[4:]}) == set()  # beyond its cap: not counted
    assert vouch({b"three": made_up[4:], b"four": made_up[4:]}) == set()
    assert vouch({b"five": made_up}) == set(made_up[:4])
    assert store.cookie_rules_seen() == set(made_up[:4])
    store.note_cookie_rules({"exact:_fbp"}, at)  # set by the site
    assert store.reset_cookie_rules() == 5
    assert store.cookie_rules_seen() == set()
    assert vouch({b"six": made_up[4:5]}) == set()  # three and four were forgotten too


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


def test_sqlite_database_from_before_space_saving_keeps_its_counts(tmp_path: Path) -> None:
    path = tmp_path / "older.db"
    before = next(i for i, script in enumerate(MIGRATIONS) if "ADD COLUMN error" in script)
    with sqlite3.connect(path) as db:  # a database as the migrations before it left it
        for script in MIGRATIONS[:before]:
            db.executescript(script)
        db.execute(f"PRAGMA user_version = {before}")
        db.execute("INSERT INTO unknown_cookies VALUES ('old', 7, '2026-11-01', '2026-11-02')")
    store = SQLiteStore(str(path))
    assert [(c.name, c.count, c.error) for c in store.unknown_cookies()] == [("old", 7, 0)]
    at = datetime(2026, 12, 1, tzinfo=UTC)
    assert store.vouch_cookie_rules({b"v": ["exact:_ga"]}, at, visitors=1, rules_per_visitor=1)
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


def hits(provider: str, count: int, start: int = 0, created_at: float = 1000.0) -> list[OutboxHit]:
    return [
        OutboxHit(f"{provider}-{n}", provider, f"payload {n}".encode(), created_at + n)
        for n in range(start, start + count)
    ]


def test_outbox_hits_come_back_oldest_first_and_leased_once(store: Store) -> None:
    store.outbox_add(hits("ga4", 5) + hits("matomo", 2))
    first = store.outbox_claim("ga4", "worker-a", 3, 30, now=2000)
    assert [row.hit_id for row in first] == ["ga4-0", "ga4-1", "ga4-2"]
    assert first[0].payload == b"payload 0"
    assert first[0].attempts == 1
    second = store.outbox_claim("ga4", "worker-b", 10, 30, now=2001)
    assert [row.hit_id for row in second] == ["ga4-3", "ga4-4"]
    assert store.outbox_claim("ga4", "worker-c", 10, 30, now=2002) == []
    store.outbox_done([row.row_id for row in first])
    assert store.outbox_count("ga4") == 2
    assert store.outbox_count() == 4


def test_an_expired_lease_is_claimed_again_with_the_same_hit_id(store: Store) -> None:
    store.outbox_add(hits("plausible", 1))
    claimed = store.outbox_claim("plausible", "crashed-worker", 10, 30, now=2000)
    assert store.outbox_claim("plausible", "other", 10, 30, now=2029) == []
    again = store.outbox_claim("plausible", "other", 10, 30, now=2031)
    assert [row.hit_id for row in again] == [row.hit_id for row in claimed]
    assert again[0].attempts == 2


def test_retried_hits_wait_until_their_time(store: Store) -> None:
    store.outbox_add(hits("umami", 2))
    claimed = store.outbox_claim("umami", "w", 10, 30, now=2000)
    store.outbox_retry([claimed[0].row_id], not_before=2100)
    store.outbox_retry([claimed[1].row_id], not_before=2000)
    assert [row.hit_id for row in store.outbox_claim("umami", "w", 10, 300, now=2001)] == [
        "umami-1"
    ]
    assert [row.hit_id for row in store.outbox_claim("umami", "w", 10, 300, now=2100)] == [
        "umami-0"
    ]


def test_retries_become_due_at_once_when_an_outage_ends(store: Store) -> None:
    store.outbox_add(hits("sentry", 3))
    claimed = store.outbox_claim("sentry", "w", 2, 300, now=2000)
    store.outbox_retry([row.row_id for row in claimed], not_before=2300)
    assert store.outbox_due_now("sentry", now=2001) == 2
    rows = store.outbox_claim("sentry", "w", 10, 300, now=2001)
    assert [row.hit_id for row in rows] == ["sentry-0", "sentry-1", "sentry-2"]


def test_a_hit_id_is_stored_once(store: Store) -> None:
    store.outbox_add(hits("posthog", 3))
    store.outbox_add(hits("posthog", 3))
    assert store.outbox_count() == 3


def test_concurrent_claimers_never_share_a_hit(store: Store) -> None:
    store.outbox_add(hits("ga4", 600))
    claimed: list[str] = []
    lock = threading.Lock()

    def claim(worker: int) -> None:
        while True:
            rows = store.outbox_claim("ga4", f"w{worker}", 7, 300, now=2000)
            if not rows:
                return
            with lock:
                claimed.extend(row.hit_id for row in rows)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(f"ga4-{n}" for n in range(600))


def test_trim_drops_old_hits_and_the_oldest_beyond_the_limit(store: Store) -> None:
    store.outbox_add(hits("ga4", 10, created_at=1000))  # 1000..1009
    store.outbox_add(hits("matomo", 10, created_at=5000))  # 5000..5009
    result = store.outbox_trim(max_age_seconds=3000, max_hits=6, now=8005)
    assert result.expired == {"ga4": 10, "matomo": 5}  # created before 5005
    assert result.overflow == {}
    assert result.remaining == 5
    result = store.outbox_trim(max_age_seconds=3000, max_hits=3, now=8005)
    assert result.overflow == {"matomo": 2}
    assert result.remaining == 3
    rows = store.outbox_claim("matomo", "w", 10, 30, now=8005)
    assert [row.hit_id for row in rows] == ["matomo-7", "matomo-8", "matomo-9"]


def test_replicas_share_one_salt_per_day_and_old_days_are_deleted(store: Store) -> None:
    first = store.salt_for("2026-11-30", b"a" * 32, keep_after="2026-11-29")
    second = store.salt_for("2026-11-30", b"b" * 32, keep_after="2026-11-29")
    assert first == second == b"a" * 32
    store.salt_for("2026-12-01", b"c" * 32, keep_after="2026-11-30")
    store.salt_for("2026-12-02", b"d" * 32, keep_after="2026-12-01")
    assert store.salt_days() == ["2026-12-01", "2026-12-02"]


def test_two_sqlite_processes_share_the_outbox_file(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    one, two = SQLiteStore(path), SQLiteStore(path)
    one.outbox_add(hits("ga4", 4))
    a = one.outbox_claim("ga4", "one", 2, 30, now=2000)
    b = two.outbox_claim("ga4", "two", 10, 30, now=2000)
    assert {r.hit_id for r in a} | {r.hit_id for r in b} == {f"ga4-{n}" for n in range(4)}
    assert not {r.hit_id for r in a} & {r.hit_id for r in b}
    one.close()
    two.close()


def test_ping_answers_while_open_and_raises_once_closed(tmp_path: Path) -> None:
    """Readiness (``/_consent/ready``) asks the store to answer a query."""
    opened = SQLiteStore(str(tmp_path / "consent.db"))
    opened.ping()
    opened.close()
    with pytest.raises(sqlite3.ProgrammingError):
        opened.ping()


@pytest.mark.postgres
def test_ping_on_postgres() -> None:
    prefix = f"t{secrets.token_hex(4)}_"
    opened = PostgresStore(POSTGRES_URL, table_prefix=prefix)
    try:
        opened.ping()
    finally:
        opened.close()
        drop_tables(prefix)
