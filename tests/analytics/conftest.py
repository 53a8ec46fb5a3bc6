"""Fixtures for the analytics tests: a stand-in provider and a gateway configured for it.
The settings and helpers they build on are in ``tests/support/providers.py``."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway import ConsentMiddleware, Settings
from gateway.store import Store
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SQLiteStore
from tests.support.apps import SECRET, cookie_app
from tests.support.postgres import POSTGRES_URL, drop_tables
from tests.support.providers import FAST, provider_settings
from tests.support.standin import StandIn


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn().start()
    yield server
    server.stop()


@pytest.fixture
def make_collecting_gateway(tmp_path: Path, stand_in: StandIn) -> Callable[..., ConsentMiddleware]:
    def make(store: Store | None = None, **options: Any) -> ConsentMiddleware:
        analytics = {**provider_settings(stand_in.url), **FAST, **options.pop("analytics", {})}
        settings = Settings.load(
            environ={},
            secret=SECRET,
            database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
            metrics=True,
            analytics=analytics,
            **options,
        )
        return ConsentMiddleware(cookie_app(), settings, store=store)

    return make


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The outbox on each backend: a SQLite file, or the real local PostgreSQL."""
    if request.param == "sqlite":
        store: Store = SQLiteStore(str(tmp_path / "outbox.db"))
        yield store
        return
    prefix = f"t{secrets.token_hex(4)}_"
    store = PostgresStore(POSTGRES_URL, table_prefix=prefix)
    yield store
    store.close()
    drop_tables(prefix)
