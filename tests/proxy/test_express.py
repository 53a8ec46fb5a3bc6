"""The gateway in front of an express (Node.js) site: tracking cookies wait for consent,
a chunked page gets the banner, Server-Sent Events pass as they come, uploads stream, and a
client that goes away ends its upstream request."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.upstreams import serve

pytestmark = pytest.mark.slow  # the gateway in a process of its own, real upstreams

HTML = {"accept": "text/html", "accept-encoding": "gzip"}
MB = 1000 * 1000


@pytest.fixture(scope="module")
def gateway(express: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    with serve(tmp_path_factory.mktemp("gateway"), express, max_body_size=str(200 * MB)) as up:
        yield up


def _names(response: httpx.Response) -> set[str]:
    return {value.partition("=")[0] for value in response.headers.get_list("set-cookie")}


def test_ga_and_fbp_wait_for_consent_the_session_cookie_does_not(
    gateway: tuple[str, int],
) -> None:
    with httpx.Client(base_url=gateway[0]) as client:
        page = client.get("/", headers=HTML)
        assert page.status_code == 200
        assert "sid" in _names(page)
        assert not {"_ga", "_fbp"} & _names(page)
        origin = {"origin": gateway[0]}
        assert client.post("/_consent/state", json={"all": True}, headers=origin).status_code == 200
        assert {"_ga", "_fbp", "sid"} <= _names(client.get("/", headers=HTML))


def test_the_chunked_page_arrives_whole_with_the_banner(gateway: tuple[str, int]) -> None:
    page = httpx.get(gateway[0] + "/", headers=HTML)
    assert all(f"<p>part {n}</p>" in page.text for n in range(5))
    assert page.text.rstrip().endswith("</html>")
    assert "/_consent/" in page.text


def test_server_sent_events_arrive_before_the_stream_ends(
    gateway: tuple[str, int], express: str
) -> None:
    url = gateway[0]
    with httpx.stream("GET", url + "/events", timeout=20) as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        lines = events.iter_lines()
        assert next(lines) == "data: first"
        # Only now does the upstream end the stream: the first event was not held back.
        assert httpx.get(express + "/release").status_code == 200
        assert "data: last" in list(lines)


def test_a_100_mb_upload_streams_with_memory_bounded(gateway: tuple[str, int]) -> None:
    url, pid = gateway
    httpx.get(url + "/headers")
    before = _peak_rss(pid)

    def body() -> Iterator[bytes]:
        piece = b"x" * (1024 * 1024)
        for _ in range(100):
            yield piece

    chunked = httpx.post(url + "/upload", content=body(), timeout=60)
    assert chunked.json() == {"bytes": 100 * 1024 * 1024, "chunked": True}
    sized = httpx.post(
        url + "/upload",
        content=body(),
        headers={"content-length": str(100 * 1024 * 1024)},
        timeout=60,
    )
    assert sized.json() == {"bytes": 100 * 1024 * 1024, "chunked": False}
    assert _peak_rss(pid) - before < 30 * 1024 * 1024


def test_expect_100_continue(gateway: tuple[str, int]) -> None:
    port = int(gateway[0].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n")
        sock.sendall(b"hello")
        answer = b""
        while b'"chunked":false}' not in answer:
            data = sock.recv(4096)
            assert data, answer
            answer += data
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b'{"bytes":5,"chunked":false}' in answer


def test_a_client_that_goes_away_cancels_its_upstream_request(
    gateway: tuple[str, int], express: str
) -> None:
    before = httpx.get(express + "/gone").json()["gone"]
    with httpx.stream("GET", gateway[0] + "/forever", timeout=10) as endless:
        assert next(endless.iter_raw()).startswith(b"tick")
    deadline = time.monotonic() + 10
    while httpx.get(express + "/gone").json()["gone"] == before:
        assert time.monotonic() < deadline, "the upstream request went on"
        time.sleep(0.05)
    assert httpx.get(gateway[0] + "/headers").status_code == 200


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid} ({os.getpid()})")


def test_refused_cookies_never_reach_the_upstream(gateway: tuple[str, int]) -> None:
    cookies = {"cookie": "_ga=GA1.1.1.1; sid=s3ss10n; _fbp=fb.1.1.1"}
    seen = httpx.get(gateway[0] + "/headers", headers=cookies).json()
    assert seen["cookie"] == "sid=s3ss10n"
    assert seen["x-forwarded-for"] == "127.0.0.1"
