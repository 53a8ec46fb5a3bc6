"""An upstream from npm, as a session fixture: an express server that sets tracking cookies,
streams and sends Server-Sent Events. nginx and the WebSocket echo server (npm ``ws``),
which the browser tests use too, are fixtures of ``tests/conftest.py``; the gateway in front
of them, and a raw socket upstream, are in ``tests/support/upstreams.py``."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import free_port
from tests.support.upstreams import process

HERE = Path(__file__).parent
NODE_MODULES = HERE.parent / "js" / "node_modules"


@pytest.fixture(scope="session")
def express() -> Iterator[str]:
    """The express site of ``express_site.js``."""
    if not (NODE_MODULES / "express").exists():
        pytest.fail("express is not installed: npm ci --prefix tests/js")
    port = free_port()
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    command = ["node", str(HERE / "express_site.js"), str(port)]
    with process(command, port, "express", env=env, stdout=subprocess.DEVNULL):
        yield f"http://127.0.0.1:{port}"
