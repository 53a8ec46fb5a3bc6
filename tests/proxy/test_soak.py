"""The edge proxy's memory under mixed load through real sockets: pages with the banner
injected, JSON, uploads of megabytes and WebSocket sessions, through ``consent-gateway
serve`` in front of nginx, express and ``ws`` (``tests/support/soak.py``). After a warm-up
the gateway's resident memory stays within 20 MB; ``benchmarks/bench_proxy_soak.py`` runs
the same load for ten minutes."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.nginx import running_nginx
from tests.support.servers import free_port
from tests.support.soak import SITE_HTTP, node_env, soak, write_site
from tests.support.upstreams import PAGE, process, serve

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
NODE_MODULES = HERE.parent / "js" / "node_modules"

MB = 1000 * 1000


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nginx serving a page and JSON, with express behind ``/upload`` and ``ws`` behind
    ``/ws``."""
    if not (NODE_MODULES / "ws").exists():
        pytest.fail("needs the npm packages: npm ci --prefix tests/js")
    root = tmp_path_factory.mktemp("soak")
    os.chmod(root, 0o755)
    write_site(root, PAGE)
    express, ws, port = free_port(), free_port(), free_port()
    env = node_env(NODE_MODULES)
    http = SITE_HTTP.format(root=root, port=port, express=express, ws=ws)
    with (
        process(
            ["node", str(HERE / "express_site.js"), str(express)],
            express,
            "express",
            env=env,
            stdout=subprocess.DEVNULL,
        ),
        process(
            ["node", str(HERE / "ws_echo.js"), str(ws)],
            ws,
            "ws",
            env=env,
            stdout=subprocess.DEVNULL,
        ),
        running_nginx(root, "site", http, port),
    ):
        yield f"http://127.0.0.1:{port}"


def test_mixed_load_does_not_grow_the_gateway_s_memory(site: str, tmp_path: Path) -> None:
    with serve(tmp_path, site, max_body_size="0") as (url, pid):
        mix, samples = asyncio.run(soak(url, pid, warm_up=8, seconds=20, every=2))
    assert not mix.failures, mix.failures
    assert all(mix.counts.get(kind, 0) > 0 for kind in ("pages", "json", "uploads", "websockets"))
    growth = (samples[-1] - samples[0]) * 1024 * 1024
    assert growth < 20 * MB, (samples, mix.summary())
