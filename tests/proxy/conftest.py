"""The upstreams nobody here wrote, as session fixtures: nginx (the Debian package) serving
static files with gzip and ``add_header Set-Cookie``, and an express server (npm) that sets
tracking cookies, streams and sends Server-Sent Events, and a WebSocket echo server (npm
``ws``). The gateway in front of them, and a
raw socket upstream, are in ``tests/support/upstreams.py``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import free_port
from tests.support.upstreams import ECHO, NGINX_CONF, PAGE, process

HERE = Path(__file__).parent
NODE_MODULES = HERE.parent / "js" / "node_modules"


@pytest.fixture(scope="session")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nginx from Debian serving ``site/``: ``index.html`` (``PAGE``), ``data.json`` and
    ``big.bin`` (100 MB); ``/echo`` answers the request headers it received."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.fail("nginx is not installed: apt-get install nginx-light (.ci/run does)")
    root = tmp_path_factory.mktemp("nginx")
    os.chmod(root, 0o755)
    (root / "site").mkdir()
    (root / "site" / "index.html").write_text(PAGE)
    (root / "site" / "data.json").write_text(json.dumps({"items": list(range(300))}))
    with (root / "site" / "big.bin").open("wb") as big:
        big.truncate(100 * 1000 * 1000)
    port = free_port()
    echo = "\\n".join(f"{name}=$http_{header}" for name, header in ECHO.items())
    user = "user root;" if os.geteuid() == 0 else ""
    (root / "nginx.conf").write_text(NGINX_CONF.format(root=root, port=port, user=user, echo=echo))
    command = [binary, "-c", str(root / "nginx.conf"), "-g", "daemon off;"]
    with process(command, port, "nginx", stderr=subprocess.DEVNULL):
        yield f"http://127.0.0.1:{port}"


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


@pytest.fixture(scope="session")
def ws_echo() -> Iterator[str]:
    """The WebSocket server of ``ws_echo.js``: its ``http://`` URL."""
    if not (NODE_MODULES / "ws").exists():
        pytest.fail("ws is not installed: npm ci --prefix tests/js")
    port = free_port()
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    command = ["node", str(HERE / "ws_echo.js"), str(port)]
    with process(command, port, "ws echo", env=env, stdout=subprocess.DEVNULL):
        yield f"http://127.0.0.1:{port}"
