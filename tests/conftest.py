"""Fixtures for every test: the gateway's settings, a gateway around an app, a database on
each backend, nginx and a WebSocket server as upstreams (for the proxy's tests and the
browser's), and the markers that ``-m "not browser and not postgres and not slow"`` uses.
Helpers that are not fixtures live in ``tests/support``."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway import ConsentMiddleware, Settings
from tests.support.apps import SECRET, cookie_app
from tests.support.nginx import running_nginx
from tests.support.postgres import fresh_schema
from tests.support.servers import free_port
from tests.support.upstreams import ECHO, NGINX_HTTP, PAGE, process

HERE = Path(__file__).resolve().parent
BROWSER_TESTS = HERE / "browser"
NODE_MODULES = HERE / "js" / "node_modules"


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


@pytest.fixture(scope="session")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nginx from Debian serving ``site/``: ``index.html`` (``PAGE``), ``data.json`` and
    ``big.bin`` (100 MB); ``/echo`` answers the request headers it received."""
    root = tmp_path_factory.mktemp("nginx")
    os.chmod(root, 0o755)
    (root / "site").mkdir()
    (root / "site" / "index.html").write_text(PAGE)
    (root / "site" / "data.json").write_text(json.dumps({"items": list(range(300))}))
    with (root / "site" / "big.bin").open("wb") as big:
        big.truncate(100 * 1000 * 1000)
    port = free_port()
    echo = "\\n".join(f"{name}=$http_{header}" for name, header in ECHO.items())
    http = NGINX_HTTP.format(root=root, port=port, echo=echo)
    with running_nginx(root, "nginx", http, port, connections=256, stderr=subprocess.DEVNULL):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def ws_echo() -> Iterator[str]:
    """The WebSocket server of ``ws_echo.js``: its ``http://`` URL."""
    if not (NODE_MODULES / "ws").exists():
        pytest.fail("ws is not installed: npm ci --prefix tests/js")
    port = free_port()
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    command = ["node", str(HERE / "proxy" / "ws_echo.js"), str(port)]
    with process(command, port, "ws echo", env=env, stdout=subprocess.DEVNULL):
        yield f"http://127.0.0.1:{port}"
