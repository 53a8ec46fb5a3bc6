"""What the admin page reads from the store: daily aggregates every worker adds to, and
decisions counted by day and choice, on SQLite and on the real local PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.store import ConsentRecord, DailyCount, DecisionCount, Store
from gateway.store.base import choice_of
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SQLiteStore
from tests.support.postgres import POSTGRES_URL, drop_tables

DAY = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened: Store = SQLiteStore(str(tmp_path / "consent.db"))
        yield opened
        opened.close()
        return
    prefix = f"t{secrets.token_hex(4)}_"
    opened = PostgresStore(POSTGRES_URL, table_prefix=prefix)
    yield opened
    opened.close()
    drop_tables(prefix)


def decision(
    granted: set[str], at: datetime, action: str = "grant", country: str = "DE"
) -> ConsentRecord:
    categories = {name: name in granted for name in ("preferences", "analytics", "marketing")}
    return ConsentRecord(
        consent_id=secrets.token_urlsafe(16),
        decided_at=at,
        policy_version="3",
        categories={"essential": True, **categories},
        regime="opt-in",
        source="user",
        action=action,
        country=country,
        subdivision=None,
        user_agent=None,
    )


def test_daily_counts_add_up_across_batches_and_start_at_the_bound(store: Store) -> None:
    store.add_daily_counts("2026-11-21", {("shown", "opt-in/DE/3"): 4})
    store.add_daily_counts("2026-11-22", {("shown", "opt-in/DE/3"): 2, ("skipped", "csp"): 1})
    store.add_daily_counts("2026-11-22", {("shown", "opt-in/DE/3"): 3})
    assert store.daily_counts("shown", "2026-11-22") == [
        DailyCount("2026-11-22", "shown", "opt-in/DE/3", 5)
    ]
    assert [c.count for c in store.daily_counts("shown", "2026-01-01")] == [4, 5]
    assert store.daily_counts("skipped", "2026-11-23") == []


def test_decisions_are_counted_by_day_and_choice_from_the_bound(store: Store) -> None:
    everything = {"preferences", "analytics", "marketing"}
    for record in (
        decision(everything, DAY),
        decision(everything, DAY + timedelta(minutes=5)),
        decision(set(), DAY),
        decision({"analytics"}, DAY, country="FR"),
        decision(set(), DAY, action="withdraw"),
        decision(everything, DAY - timedelta(days=3)),  # before the bound
        decision(set(), DAY + timedelta(days=1)),
    ):
        store.record_consent(record)
    found = store.decision_counts(DAY - timedelta(days=1))
    assert found == [
        DecisionCount("2026-11-22", "opt-in", "DE", "3", "accept_all", 2),
        DecisionCount("2026-11-22", "opt-in", "DE", "3", "reject_all", 1),
        DecisionCount("2026-11-22", "opt-in", "DE", "3", "withdraw", 1),
        DecisionCount("2026-11-22", "opt-in", "FR", "3", "custom", 1),
        DecisionCount("2026-11-23", "opt-in", "DE", "3", "reject_all", 1),
    ]


def test_a_choice_is_read_from_the_categories_granted() -> None:
    assert choice_of({"preferences": True, "analytics": True, "marketing": True}, "grant") == (
        "accept_all"
    )
    assert choice_of({"essential": True}, "grant") == "reject_all"
    assert choice_of({"analytics": True}, "grant") == "custom"
    assert choice_of({"analytics": True}, "withdraw") == "withdraw"
