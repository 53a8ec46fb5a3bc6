"""Fixtures for the analytics tests: stand-in providers and a gateway configured for them."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from gateway import ConsentMiddleware, Settings
from gateway.store import Store
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SQLiteStore
from tests.analytics.standin import StandIn
from tests.conftest import SECRET, cookie_app

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
SENTRY_KEY = "0123456789abcdef0123456789abcdef"
# Fast retries so that outage tests take seconds, not minutes.
FAST = {
    "retry_base_seconds": 0.05,
    "retry_max_seconds": 0.5,
    "breaker_cooldown_seconds": 0.2,
    "forward_timeout_seconds": 2,
}


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn().start()
    yield server
    server.stop()


def provider_settings(upstream: str) -> dict[str, dict[str, Any]]:
    """Every provider pointed at one stand-in (their paths do not overlap)."""
    host = upstream.removeprefix("http://")
    return {
        "ga4": {"upstream": upstream, "api_secret": "server-side-secret"},
        "matomo": {"upstream": upstream + "/matomo.php", "token_auth": "server-side-token"},
        "plausible": {"upstream": upstream},
        "umami": {"upstream": upstream},
        "posthog": {"upstream": upstream},
        "sentry": {"dsn": f"http://{SENTRY_KEY}@{host}/42"},
    }


def sentry_dsn(stand_in: StandIn) -> str:
    return provider_settings(stand_in.url)["sentry"]["dsn"]


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


def drop_tables(prefix: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
        for table in (
            "consent_records",
            "unknown_cookies",
            "analytics_outbox",
            "analytics_salts",
            "schema_version",
        ):
            db.execute(f"DROP TABLE IF EXISTS {prefix}{table}")


def consent(client: httpx.Client, **categories: bool) -> None:
    """Record a choice like the banner does: ``all=True``, ``all=False`` or categories."""
    body: dict[str, Any] = (
        {"all": categories["all"]} if "all" in categories else {"categories": categories}
    )
    response = client.post("/_consent/state", json=body, headers={"origin": str(client.base_url)})
    assert response.status_code == 200, response.text


BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.85 Safari/537.36"
)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Like ``tests.conftest.running`` but without uvicorn's own proxy-header handling, which
    trusts X-Forwarded-For from loopback: the gateway's ``trusted_proxies`` is under test."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
