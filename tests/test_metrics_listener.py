"""The Prometheus metrics on a listener of their own (``metrics_listen``), started with the
app's lifespan: under the bare middleware in a server of one's own, and in
``consent-gateway demo``; never on the public site unless asked (``metrics``)."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway import ConsentMiddleware, Settings
from tests.support.apps import SECRET, cookie_app
from tests.support.servers import running

pytestmark = pytest.mark.slow  # real servers on listeners of their own

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gateway(tmp_path: Path, port: int) -> ConsentMiddleware:
    settings = Settings.load(
        environ={},
        secret=SECRET,
        database_url=f"sqlite:///{tmp_path / 'c.db'}",
        metrics_listen=f"127.0.0.1:{port}",
    )
    return ConsentMiddleware(cookie_app(), settings)


def test_the_listener_answers_on_its_own_port_while_the_app_runs(tmp_path: Path) -> None:
    port = free_port()
    metrics = f"http://127.0.0.1:{port}"
    with running(gateway(tmp_path, port)) as url:
        site = httpx.get(url + "/", headers={"user-agent": "curl/8.5.0"})  # a bot, counted
        assert site.status_code == 200
        assert httpx.get(url + "/_consent/metrics").status_code == 404  # not on the site
        answer = httpx.get(metrics + "/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain; version=")
        assert 'consent_gateway_bot_requests_total{kind="script"} ' in answer.text  # counted
        head = httpx.head(metrics + "/metrics")
        assert (head.status_code, head.content) == (200, b"")
        assert httpx.get(metrics + "/").status_code == 404
        refused = httpx.post(metrics + "/metrics")
        assert (refused.status_code, refused.headers["allow"]) == (405, "GET, HEAD")
    with pytest.raises(httpx.ConnectError):  # closed with the app
        httpx.get(metrics + "/metrics")


def test_an_address_already_taken_is_logged_and_the_site_keeps_serving(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    with running(gateway(tmp_path, port)), caplog.at_level(logging.ERROR, "consent_gateway"):
        with running(gateway(tmp_path, port)) as second:  # another worker, say
            assert httpx.get(second + "/").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 200  # the first's
    assert f"cannot listen on 127.0.0.1:{port}" in caplog.text


def test_the_demo_serves_metrics_on_its_listener(tmp_path: Path) -> None:
    port, site = free_port(), free_port()
    config = tmp_path / "settings.toml"
    config.write_text(f'metrics_listen = "127.0.0.1:{port}"\n', encoding="utf-8")
    demo = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "demo", "--config", str(config), "--port", str(site)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/metrics")
                break
            except httpx.ConnectError:
                assert demo.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert answer.status_code == 200
        assert "consent_gateway_pages_injected_total" in answer.text
        assert httpx.get(f"http://127.0.0.1:{site}/_consent/metrics").status_code == 404
    finally:
        demo.terminate()
        demo.wait(10)
