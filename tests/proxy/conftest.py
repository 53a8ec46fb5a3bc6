"""Upstreams nobody here wrote, and the gateway in front of them as a user runs it:
``consent-gateway serve`` in its own process on a free loopback port.

nginx (the Debian package) serves static files with gzip and ``add_header Set-Cookie``; an
express server (npm) sets tracking cookies, streams and sends Server-Sent Events; a raw
asyncio server answers what no real server should (``tests/proxy/test_faults.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import SECRET

HERE = Path(__file__).parent
NODE_MODULES = HERE.parent / "js" / "node_modules"
PAGE = (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Static site</title>'
    "</head>\n<body><h1>A static site</h1>\n"
    + "<p>Served by nginx, compressed with gzip on the way.</p>\n" * 200
    + "</body></html>\n"
)


def echoed(response: object) -> dict[str, str]:
    """The request headers nginx's ``/echo`` saw, by short name."""
    text: str = response.text  # type: ignore[attr-defined]
    return dict(line.partition("=")[::2] for line in text.splitlines())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.05)


@contextmanager
def process(command: list[str], port: int, what: str, **options: object) -> Iterator[int]:
    """Run ``command`` until the block ends; yields its pid once ``port`` answers."""
    started = subprocess.Popen(command, **options)  # type: ignore[call-overload]
    try:
        wait_for_port(port, started, what)
        yield started.pid
    finally:
        started.terminate()
        try:
            started.wait(10)
        except subprocess.TimeoutExpired:
            started.kill()
            started.wait()


NGINX_CONF = """
{user}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    types {{ text/html html; application/json json; application/octet-stream bin; }}
    gzip on;
    gzip_types application/json;  # text/html always
    gzip_min_length 256;
    server {{
        listen 127.0.0.1:{port};
        root {root}/site;
        add_header Set-Cookie "_ga=GA1.1.987.654; Path=/; Max-Age=63072000";
        add_header Set-Cookie "sessionid=n61nx; Path=/; HttpOnly";
        location = /echo {{
            default_type text/plain;
            return 200 "{echo}\\n";
        }}
    }}
}}
"""


# What /echo answers: the request headers nginx received, one ``name=value`` a line.
ECHO = {
    "host": "host",
    "xff": "x_forwarded_for",
    "proto": "x_forwarded_proto",
    "xfh": "x_forwarded_host",
    "forwarded": "forwarded",
    "ae": "accept_encoding",
    "expect": "expect",
    "custom": "x_custom",
}


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


@contextmanager
def serve(
    tmp_path: Path, *upstreams: str, options: Sequence[str] = (), **environ: str
) -> Iterator[tuple[str, int]]:
    """``consent-gateway serve --upstream ... [options]`` on a free port, with the settings
    ``environ`` names in the environment: its URL and its pid."""
    port = free_port()
    env = {
        **os.environ,
        "CONSENT_GATEWAY_SECRET": SECRET,
        "CONSENT_GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'consent.db'}",
        **{f"CONSENT_GATEWAY_{key.upper()}": value for key, value in environ.items()},
    }
    command = [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)]
    for upstream in upstreams:
        command += ["--upstream", upstream]
    command += options
    with (
        (tmp_path / f"serve-{port}.log").open("wb") as log,
        process(command, port, "consent-gateway serve", env=env, stderr=log, stdout=log) as pid,
    ):
        yield f"http://127.0.0.1:{port}", pid
