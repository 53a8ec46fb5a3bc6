"""Fixtures for every test: the gateway's settings, a gateway around an app, a database on
each backend, and the markers that ``-m "not browser and not postgres and not slow"`` uses.
Helpers that are not fixtures live in ``tests/support``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway import ConsentMiddleware, Settings
from tests.support.apps import SECRET, cookie_app
from tests.support.postgres import fresh_schema

BROWSER_TESTS = Path(__file__).resolve().parent / "browser"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what needs a service, so that the quick run can leave it out: every test under
    tests/browser needs Chromium, and every test given the ``postgresql`` parameter (of
    ``database_url`` or a store fixture) needs the local PostgreSQL."""
    for item in items:
        if item.path.is_relative_to(BROWSER_TESTS):
            item.add_marker(pytest.mark.browser)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgresql" in callspec.params.values():
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(
        environ={}, secret=SECRET, database_url=f"sqlite:///{tmp_path / 'consent.db'}", metrics=True
    )


@pytest.fixture
def make_gateway(settings: Settings) -> Callable[..., ConsentMiddleware]:
    def make(app: Any = None, **options: Any) -> ConsentMiddleware:
        chosen = Settings.load(environ={}, **{**settings.model_dump(), **options})
        return ConsentMiddleware(app or cookie_app(), chosen)

    return make


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database for a gateway and the command line alike: a SQLite file, or a schema of
    its own on the local PostgreSQL (the gateway's tables have fixed names)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'consent.db'}"
        return
    with fresh_schema() as url:
        yield url
