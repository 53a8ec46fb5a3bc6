"""``/_consent/health`` and ``/_consent/ready`` under the middleware in an app of one's own,
served by a real uvicorn: the store is checked, and checks the host adds to
``Gateway.readiness_checks`` too."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gateway import ConsentMiddleware
from tests.support.apps import SECRET, cookie_app
from tests.support.servers import running

pytestmark = pytest.mark.slow  # every test runs a real server


async def _down() -> None:
    raise ConnectionError("the search index is down")


def test_ready_checks_the_store_and_what_the_host_adds(tmp_path: Path) -> None:
    app = ConsentMiddleware(
        cookie_app(), secret=SECRET, database_url=f"sqlite:///{tmp_path / 'consent.db'}"
    )
    with running(app) as url:
        assert httpx.get(url + "/_consent/health").json() == {"status": "ok"}
        ready = httpx.get(url + "/_consent/ready")
        assert (ready.status_code, ready.json()) == (200, {"ready": True, "checked": ["store"]})
        app.gateway.readiness_checks["search"] = _down
        ready = httpx.get(url + "/_consent/ready")
        assert ready.status_code == 503
        assert ready.json() == {
            "ready": False,
            "checked": ["store", "search"],
            "failed": ["search"],
        }
        assert "index" not in ready.text
        assert httpx.post(url + "/_consent/ready").status_code == 405


def test_not_ready_once_the_store_fails(tmp_path: Path) -> None:
    """A database file the store cannot open (its directory is gone)."""
    missing = tmp_path / "gone" / "consent.db"
    app = ConsentMiddleware(cookie_app(), secret=SECRET, database_url=f"sqlite:///{missing}")
    with running(app) as url:
        ready = httpx.get(url + "/_consent/ready")
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["store"]
