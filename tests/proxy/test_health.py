"""``/_consent/health`` and ``/_consent/ready`` of a real ``consent-gateway serve``: liveness
while the process serves, readiness only while the store and an upstream answer."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port
from tests.support.upstreams import RawUpstream, serve

pytestmark = pytest.mark.slow  # the gateway in a process of its own


def test_live_and_ready_while_the_upstream_answers(tmp_path: Path) -> None:
    with (
        RawUpstream() as upstream,
        serve(tmp_path, f"http://127.0.0.1:{upstream.port}") as (
            url,
            _,
        ),
    ):
        health = httpx.get(url + "/_consent/health")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        assert health.headers["cache-control"] == "no-store"
        ready = httpx.get(url + "/_consent/ready")
        assert ready.status_code == 200
        assert ready.json() == {"ready": True, "checked": ["store", "upstream"]}
        assert httpx.head(url + "/_consent/ready").status_code == 200
        assert upstream.requests == []  # a connection is enough: no request reaches the site


def test_a_thousand_readiness_checks_open_no_thousand_connections(tmp_path: Path) -> None:
    """``/_consent/ready`` is public: it answers from what the pool knows (here a kept-alive
    connection, then its own one connection attempt), whoever asks and how often."""
    with (
        RawUpstream() as upstream,
        serve(tmp_path, f"http://127.0.0.1:{upstream.port}", upstream_ready_interval="3600") as (
            url,
            _,
        ),
        httpx.Client(base_url=url) as client,
    ):
        assert client.get("/keep").text == "ok"  # its connection is kept for the next request
        for _ in range(1000):
            ready = client.get("/_consent/ready")
            assert ready.status_code == 200
        assert ready.json() == {"ready": True, "checked": ["store", "upstream"]}
        assert upstream.accepted <= 2  # /keep's, and at most one of the check's own


def test_an_upstream_gone_turns_readiness_off(tmp_path: Path) -> None:
    """Within about ``upstream_ready_interval`` of the upstream stopping, not ready."""
    with RawUpstream() as upstream:
        port = upstream.port
        with serve(tmp_path, f"http://127.0.0.1:{port}", upstream_ready_interval="1") as (url, _):
            assert httpx.get(url + "/_consent/ready").status_code == 200
            upstream.__exit__()
            deadline = time.monotonic() + 30
            while (ready := httpx.get(url + "/_consent/ready")).status_code == 200:
                assert time.monotonic() < deadline, "still ready with the upstream gone"
                time.sleep(0.1)
            assert ready.status_code == 503
            assert ready.json()["failed"] == ["upstream"]
            assert "127.0.0.1" not in ready.text


def test_not_ready_without_an_upstream(tmp_path: Path) -> None:
    """Of two upstreams, one answering is enough; none answering is a 503 naming it, and
    the log says why once, however often it is asked."""
    nobody = f"http://127.0.0.1:{free_port()}"
    with RawUpstream() as upstream:
        with serve(tmp_path, nobody, f"http://127.0.0.1:{upstream.port}") as (url, _):
            assert httpx.get(url + "/_consent/ready").status_code == 200
        with serve(tmp_path, nobody) as (url, _):
            for _ in range(50):
                ready = httpx.get(url + "/_consent/ready")
            assert ready.status_code == 503
            assert ready.json() == {
                "ready": False,
                "checked": ["store", "upstream"],
                "failed": ["upstream"],
            }
            assert httpx.get(url + "/_consent/health").status_code == 200  # alive all the same
        log = "".join(path.read_text() for path in tmp_path.glob("serve-*.log"))
        # The reason, for the operator only, and once: asked in a loop, the log stays short.
        assert log.count("not ready: upstream: " + nobody) == 1


def test_not_ready_without_the_store(tmp_path: Path) -> None:
    """A PostgreSQL that does not answer: the store check fails, the upstream's passes."""
    database = f"postgresql://gateway@127.0.0.1:{free_port()}/consent"
    with (
        RawUpstream() as upstream,
        serve(tmp_path, f"http://127.0.0.1:{upstream.port}", database_url=database) as (url, _),
    ):
        ready = httpx.get(url + "/_consent/ready")
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["store"]
        assert "127.0.0.1" not in ready.text  # no address of the inside in a public answer
