"""Shared fixtures: a real uvicorn server on loopback and a small app that sets cookies."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway import ConsentMiddleware, Settings

SECRET = "test-secret-0123456789abcdef"
ORIGIN_HEADERS = {"origin": "http://testserver"}


@contextmanager
def running(app: Any, **options: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yields the base URL. ``options``
    go to ``uvicorn.Config`` (``ssl_certfile`` serves HTTPS)."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", **options
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
        yield f"{'https' if config.is_ssl else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


async def _cookie_page(request: Request) -> JSONResponse:
    """Sets one cookie of each category and reports the cookies it received."""
    response = JSONResponse({"received": sorted(request.cookies)})
    response.set_cookie("sessionid", "s3ss10n", httponly=True)
    response.set_cookie("_ga", "GA1.1.123.456", max_age=63072000)
    response.set_cookie("_fbp", "fb.1.123.456", max_age=7776000)
    return response


def cookie_app() -> Starlette:
    return Starlette(routes=[Route("/", _cookie_page)])


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


POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database for a gateway and the command line alike: a SQLite file, or a schema of
    its own on the local PostgreSQL (the gateway's tables have fixed names)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'consent.db'}"
        return
    schema = f"t{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
        db.execute(f"DROP SCHEMA {schema} CASCADE")
