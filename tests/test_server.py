"""``consent-gateway demo`` bounds the request line and headers it accepts (431 beyond),
run as a user runs it: the command in its own process; the server's protocol writes a
response head with the body that follows it at once, never holding it for a late one."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.server import options
from tests.support.apps import SECRET
from tests.support.servers import running
from tests.support.upstreams import started

pytestmark = pytest.mark.slow  # the command in a process of its own


@contextmanager
def serve(tmp_path: Path, **environ: str) -> Iterator[str]:
    """``consent-gateway demo`` on a free port, with these extra environment variables."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "CONSENT_GATEWAY_SECRET": SECRET,
        "CONSENT_GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'consent.db'}",
        **environ,
    }
    command = [sys.executable, "-m", "gateway.cli", "demo", "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.slow  # the command in a process of its own
def test_serve_answers_431_to_a_request_head_over_16_kib(tmp_path: Path) -> None:
    with serve(tmp_path) as url, httpx.Client(base_url=url) as client:
        refused = client.get("/", headers={"cookie": "big=" + "x" * 17_000})
        assert refused.status_code == 431
        assert "at most 16384 bytes" in refused.text
        assert client.get("/?q=" + "x" * 17_000).status_code == 431
        # Headers within the limit together (a 7 KB cookie and a 7 KB User-Agent) pass.
        headers = {"cookie": "big=" + "x" * 7_000, "user-agent": "Mozilla/5.0 " + "y" * 7_000}
        assert client.get("/", headers=headers).status_code == 200


@pytest.mark.slow
def test_a_header_without_end_is_cut_off(tmp_path: Path) -> None:
    with serve(tmp_path) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nCookie: a=")
            cut_off = False
            try:
                for _ in range(1000):  # 8 MB, never a line end
                    sock.sendall(b"x" * 8192)
            except OSError:  # the server answered 431 and closed the connection
                cut_off = True
            assert cut_off
        with httpx.Client(base_url=url) as client:
            assert client.get("/").status_code == 200


@pytest.mark.slow
def test_the_limit_is_a_setting(tmp_path: Path) -> None:
    limit = {"CONSENT_GATEWAY_MAX_HEADER_BYTES": "65536"}
    with serve(tmp_path, **limit) as url, httpx.Client(base_url=url) as client:
        assert client.get("/", headers={"cookie": "big=" + "x" * 40_000}).status_code == 200
        refused = client.get("/", headers={"cookie": "big=" + "x" * 70_000})
        assert refused.status_code == 431


def test_demo_logs_truncated_addresses_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    """``demo`` is served as ``serve`` is: the gateway's access log in place of uvicorn's,
    which writes every client's full address, and SIGTERM is an orderly stop (exit status
    0, not 143)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "CONSENT_GATEWAY_SECRET": SECRET,
        "CONSENT_GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'consent.db'}",
    }
    command = [sys.executable, "-m", "gateway.cli", "demo", "--port", str(port)]
    with (
        (tmp_path / "demo.log").open("wb") as log,
        started(command, port, "demo", env=env, stdout=log, stderr=log) as demo,
    ):
        response = httpx.get(f"http://127.0.0.1:{port}/about?email=a@example.com")
        assert response.status_code == 200
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(30) == 0
    text = (tmp_path / "demo.log").read_text()
    assert "127.0.0.0 - - [" in text and '"GET /about HTTP/1.1" 200 ' in text, text
    assert "127.0.0.1:" not in text.replace(f"http://127.0.0.1:{port}", ""), text
    assert "a@example.com" not in text


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "the connection closed before the response head"
        data += chunk
    return data


def test_a_head_waits_for_no_body_that_is_late() -> None:
    """The server writes a response head with its first piece of body when that follows at
    once: a head whose body is late (a stream) still goes out without it."""
    release = threading.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 10)
        await send({"type": "http.response.body", "body": b"late"})

    with running(app, http=options(16 * 1024)["http"]) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            head = _read_head(sock)  # the body is not released yet: a timeout if held
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            release.set()
            rest = head.split(b"\r\n\r\n", 1)[1]
            while not rest.endswith(b"0\r\n\r\n"):
                rest += sock.recv(4096)
            assert rest == b"4\r\nlate\r\n0\r\n\r\n"


def test_a_head_and_its_body_arrive_whole() -> None:
    """A small response, head and body written together: both arrive, the head once."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-length", b"5")]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": b"hello"})

    http = options(16 * 1024)["http"]
    with running(app, http=http) as url, httpx.Client(base_url=url) as client:
        for _ in range(3):  # one keep-alive connection: each response framed right
            response = client.get("/")
            assert (response.status_code, response.content) == (201, b"hello")
