"""Retention through a real server: the gateway's background purge deletes records older
than ``record_retention_days`` in its first cycle and keeps the newer ones."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from gateway import ConsentMiddleware, Settings
from gateway.store import ConsentRecord, open_store
from tests.support.apps import cookie_app
from tests.support.servers import running

pytestmark = pytest.mark.slow  # a real server


def aged(consent_id: str, days: float) -> ConsentRecord:
    return ConsentRecord(
        consent_id=consent_id,
        decided_at=datetime.now(UTC) - timedelta(days=days),
        policy_version="1",
        categories={"essential": True},
        regime="opt-in",
        source="user",
        action="grant",
        country=None,
        subdivision=None,
        user_agent=None,
    )


def test_records_past_the_limit_are_gone_after_one_purge_cycle(
    settings: Settings, database_url: str
) -> None:
    store = open_store(database_url)
    for n, days in enumerate([400, 100, 31, 29.9, 5, 0]):
        store.record_consent(aged(f"visitor{n}", days))
    store.close()
    chosen = Settings.load(
        environ={},
        **{**settings.model_dump(), "database_url": database_url, "record_retention_days": 30},
    )
    gateway = ConsentMiddleware(cookie_app(), chosen)
    retention = gateway.gateway.retention
    retention.first = 0  # not a minute after start
    with running(gateway):
        deadline = time.monotonic() + 30
        while retention.cycles < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert retention.cycles >= 1
        assert retention.purged == 3
        metrics = gateway.gateway.metrics.exposition().decode()
        assert 'consent_gateway_records_removed_total{reason="purged"} 3.0' in metrics
        check = open_store(database_url)
        kept = [n for n in range(6) if check.consent_history(f"visitor{n}")]
        assert kept == [3, 4, 5]
        result = check.verify_records()
        assert result.ok and result.anchor_sequence == 3, result
        check.close()
