"""SIGTERM to a real ``consent-gateway serve``: the listening socket closes at once, a
response in flight still completes, then the gateway writes what it holds (``aclose``) and
the process exits 0; with ``--workers`` too."""

from __future__ import annotations

import json
import signal
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.store.sqlite import SQLiteStore
from tests.support.providers import BROWSER_UA
from tests.support.servers import free_port
from tests.support.upstreams import serving

pytestmark = pytest.mark.slow  # the gateway in a process of its own

BODY = b"finished after the signal\n" * 1000
UNKNOWN = "zq_unlisted_cookie"  # in no rule: counted, and the count written at shutdown


class HeldUpstream(socketserver.ThreadingTCPServer):
    """Answers ``/held`` once ``release`` is set (``arrived`` says the request came); any
    other path at once, setting a cookie no rule knows."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.arrived = threading.Event()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(socketserver.StreamRequestHandler):
    server: HeldUpstream

    def handle(self) -> None:
        while True:
            line = self.rfile.readline()
            if not line:
                return
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            if line.split()[1] == b"/held":
                self.server.arrived.set()
                self.server.release.wait(30)
                head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                self.wfile.write(head + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY)
            else:
                self.wfile.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    b"Set-Cookie: " + UNKNOWN.encode() + b"=1; Path=/\r\n"
                    b"Content-Length: 2\r\n\r\nok"
                )


@contextmanager
def held_upstream() -> Iterator[HeldUpstream]:
    server = HeldUpstream()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def _refused(url: str) -> bool:
    """Whether a new connection is refused. Accepted or timed out (the listen queue of a
    worker that stopped accepting is full): not yet."""
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):  # reset: queued as it closed
        return True
    except TimeoutError:
        return False
    time.sleep(0.05)  # each try that connects takes a place in the queue: fill it slowly
    return False


def _drains(tmp_path: Path, options: list[str]) -> None:
    with (
        held_upstream() as upstream,
        serving(tmp_path, upstream.url, options=options) as (
            url,
            process,
        ),
    ):
        for _ in range(4):  # with workers, most likely each of them sees one
            assert httpx.get(url + "/ok").text == "ok"
        with ThreadPoolExecutor(1) as pool:
            in_flight: Future[httpx.Response] = pool.submit(httpx.get, url + "/held", timeout=30)
            assert upstream.arrived.wait(10)
            process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            while not _refused(url):  # new connections: refused once the signal is handled
                assert time.monotonic() < deadline, "new connections still accepted"
            assert process.poll() is None  # still draining the response in flight
            upstream.release.set()
            response = in_flight.result(30)
        assert response.status_code == 200
        assert response.content == BODY
        assert process.wait(30) == 0
    log = "".join(path.read_text() for path in tmp_path.glob("serve-*.log"))
    assert "Traceback" not in log
    store = SQLiteStore(str(tmp_path / "consent.db"))
    try:
        counted = {cookie.name: cookie.count for cookie in store.unknown_cookies()}
    finally:
        store.close()
    assert counted.get(UNKNOWN) == 4  # written by the gateway's aclose, before the exit


def test_sigterm_drains_a_response_in_flight(tmp_path: Path) -> None:
    _drains(tmp_path, [])


def test_sigterm_drains_every_worker(tmp_path: Path) -> None:
    _drains(tmp_path, ["--workers", "2"])


def test_sigterm_keeps_the_analytics_outbox_with_the_provider_down(tmp_path: Path) -> None:
    """Hits waiting for a provider that does not answer stay in the outbox, for the next
    start to forward; closing the forwarder does not wait for the provider."""
    event = json.dumps({"n": "pageview", "u": "https://shop.example/", "d": "shop.example"})
    headers = {"user-agent": BROWSER_UA, "content-type": "text/plain"}
    nobody = f"http://127.0.0.1:{free_port()}"
    analytics = json.dumps({"plausible": {"upstream": nobody}})
    with (
        held_upstream() as upstream,
        serving(tmp_path, upstream.url, analytics=analytics) as (url, process),
    ):
        for _ in range(5):
            hit = httpx.post(
                url + "/_consent/collect/plausible/api/event", content=event, headers=headers
            )
            assert hit.status_code == 202
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    log = "".join(path.read_text() for path in tmp_path.glob("serve-*.log"))
    assert "Traceback" not in log
    store = SQLiteStore(str(tmp_path / "consent.db"))
    try:
        assert store.outbox_count("plausible") == 5
    finally:
        store.close()
