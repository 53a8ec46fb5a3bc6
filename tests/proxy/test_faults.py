"""What the gateway does when the upstream misbehaves, against a raw asyncio server that
answers what no real server should: malformed responses become a 502 (never passed on, never
a smuggled second response), a silent upstream a 504, a refused one a 502 (HTML or JSON by
``Accept``), a death mid-response a truncated response, and the gateway keeps serving."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.servers import free_port
from tests.support.upstreams import MANY_COOKIES, RawUpstream, serve

pytestmark = pytest.mark.slow  # the gateway in a process of its own, real upstreams


@pytest.fixture(scope="module")
def raw() -> Iterator[RawUpstream]:
    with RawUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway(raw: RawUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = {"upstream_read_timeout": "1", "max_body_size": "1000"}
    with serve(tmp_path_factory.mktemp("gw"), f"http://127.0.0.1:{raw.port}", **settings) as up:
        yield up[0]


@pytest.mark.parametrize(
    "path",
    [
        "/bad-status",
        "/not-http",
        "/two-lengths",
        "/length-and-chunked",
        "/bad-chunk",
        "/switch",
        "/huge-head",
    ],
)
def test_a_malformed_response_is_a_502(gateway: str, path: str) -> None:
    response = httpx.get(gateway + path, headers={"accept": "text/html"})
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "Bad Gateway" in response.text
    assert "ok" not in response.text.split("</h1>")[0]
    assert httpx.get(gateway + "/ok").text == "ok"


def test_a_second_response_in_one_answer_is_never_passed_on(gateway: str) -> None:
    port = int(gateway.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
        sock.sendall(b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        received = b""
        while received.count(b"HTTP/1.1 ") < 2:
            data = sock.recv(65536)
            if not data:
                break
            received += data
    assert b"smuggled" not in received


def test_a_body_without_length_ends_with_the_connection(gateway: str) -> None:
    assert httpx.get(gateway + "/no-length").text == "until the end"


def test_a_silent_upstream_is_a_504(gateway: str) -> None:
    response = httpx.get(gateway + "/slow", headers={"accept": "application/json"}, timeout=30)
    assert response.status_code == 504
    assert response.json()["status"] == 504


def _logged(log: Path, *pieces: str) -> str:
    """The gateway's log once a line holds all ``pieces`` (the access log is written every
    quarter of a second)."""
    deadline = time.monotonic() + 10
    while True:
        text = log.read_text()
        if any(all(piece in line for piece in pieces) for line in text.splitlines()):
            return text
        assert time.monotonic() < deadline, f"no line with {pieces} in:\n{text}"
        time.sleep(0.05)


def _one_warning(text: str, raw: RawUpstream, what: str) -> None:
    """One line says which upstream failed and what the client got; no traceback."""
    named = [line for line in text.splitlines() if f"upstream http://127.0.0.1:{raw.port}" in line]
    assert len(named) == 1, text
    assert "the upstream closed the connection" in named[0] and what in named[0], named
    assert "Traceback" not in text and "UpstreamBroken" not in text, text


def test_death_mid_response_truncates_it_and_the_gateway_keeps_serving(
    raw: RawUpstream, tmp_path: Path
) -> None:
    with serve(tmp_path, f"http://127.0.0.1:{raw.port}") as (url, _):
        with httpx.stream("GET", url + "/die", timeout=10) as response:
            assert response.status_code == 200
            assert response.headers["content-length"] == "1000000"
            with pytest.raises(httpx.RemoteProtocolError):
                response.read()
        assert httpx.get(url + "/ok").text == "ok"
        # The access log: 200 to the client, 1,000 bytes of a million, the upstream's 502.
        text = _logged(next(tmp_path.glob("serve-*.log")), '"GET /die HTTP/1.1" 200 1000 ', " 502 ")
    _one_warning(text, raw, "cut short")


def test_a_page_cut_short_is_not_completed_by_the_gateway(raw: RawUpstream, tmp_path: Path) -> None:
    """A chunked HTML page the gateway rewrites, its upstream dying: the client sees no last
    chunk, so it cannot take the page for whole."""
    with serve(tmp_path, f"http://127.0.0.1:{raw.port}") as (url, _):
        with httpx.stream("GET", url + "/die-page", headers={"accept": "text/html"}) as page:
            assert page.status_code == 200
            with pytest.raises(httpx.RemoteProtocolError):
                page.read()
        assert httpx.get(url + "/ok").text == "ok"
        text = _logged(next(tmp_path.glob("serve-*.log")), '"GET /die-page HTTP/1.1" 200 ', " 502 ")
    _one_warning(text, raw, "cut short")


def test_a_page_cut_short_while_its_start_is_held_is_a_502(
    raw: RawUpstream, tmp_path: Path
) -> None:
    """Cut in its first tag, a page the gateway rewrites has sent nothing to the client
    yet: a 502 page (HTML or JSON by ``Accept``), not uvicorn's 500."""
    with serve(tmp_path, f"http://127.0.0.1:{raw.port}") as (url, _):
        page = httpx.get(url + "/die-in-head", headers={"accept": "text/html"})
        assert page.status_code == 502
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "Bad Gateway" in page.text and "doctype ht\n" not in page.text
        as_json = httpx.get(url + "/die-in-head", headers={"accept": "application/json"})
        assert (as_json.status_code, as_json.json()["status"]) == (502, 502)
        assert httpx.get(url + "/ok").text == "ok"
        text = _logged(next(tmp_path.glob("serve-*.log")), '"GET /die-in-head HTTP/1.1" 502 ')
    assert text.count('"GET /die-in-head HTTP/1.1" 502 ') == 2
    named = [line for line in text.splitlines() if "answered 502" in line]
    assert len(named) == 2 and all(f"http://127.0.0.1:{raw.port}" in line for line in named)
    assert "Traceback" not in text and "UpstreamBroken" not in text, text


def test_a_body_over_max_body_size_is_a_413(gateway: str, raw: RawUpstream) -> None:
    sized = httpx.post(gateway + "/ok", content=b"x" * 1001, headers={"accept": "application/json"})
    assert sized.status_code == 413
    assert sized.json()["error"] == "Content Too Large"

    def pieces() -> Iterator[bytes]:
        yield b"x" * 600
        yield b"x" * 600

    # /slow reads nothing and never answers: the body goes as far as the limit.
    assert httpx.post(gateway + "/slow", content=pieces()).status_code == 413
    assert httpx.post(gateway + "/ok", content=b"x" * 1000).text == "ok"


def test_a_refused_upstream_is_a_502_in_json_or_html(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with serve(tmp_path, closed) as (url, _):
        as_json = httpx.get(url + "/", headers={"accept": "application/json"})
        assert as_json.status_code == 502
        assert as_json.json() == {
            "error": "Bad Gateway",
            "status": 502,
            "detail": "The site could not be reached.",
        }
        as_html = httpx.get(url + "/")
        assert as_html.status_code == 502
        assert as_html.headers["content-type"] == "text/html; charset=utf-8"


def test_a_refused_upstream_is_skipped_for_the_next(tmp_path: Path, raw: RawUpstream) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with serve(tmp_path, closed, f"http://127.0.0.1:{raw.port}") as (url, _):
        for _ in range(4):
            assert httpx.get(url + "/ok").text == "ok"


def test_a_post_is_not_sent_twice(gateway: str, raw: RawUpstream) -> None:
    before = len([r for r in raw.requests if r.startswith(b"POST /not-http ")])
    assert httpx.post(gateway + "/not-http", content=b"once").status_code == 502
    after = len([r for r in raw.requests if r.startswith(b"POST /not-http ")])
    assert after - before == 1


def test_a_get_is_sent_again_on_a_new_connection_a_post_with_a_body_is_not(
    gateway: str, raw: RawUpstream
) -> None:
    with httpx.Client(base_url=gateway) as client:
        assert client.get("/keep").text == "ok"  # its connection is kept for the next
        assert client.get("/keep").text == "ok"  # which finds it closing: sent again
        # A POST's body is gone once sent: a 502 rather than a guess.
        assert client.post("/keep", content=b"body").status_code == 502
        assert client.post("/keep", content=b"body").text == "ok"


def test_an_upstream_that_stops_reading_the_body_is_a_504(raw: RawUpstream, tmp_path: Path) -> None:
    settings = {"upstream_read_timeout": "1", "max_body_size": "0"}
    with serve(tmp_path, f"http://127.0.0.1:{raw.port}", **settings) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        size = 200 * 1000 * 1000
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size)
            sender = threading.Thread(target=_send_zeros, args=(sock, size), daemon=True)
            sender.start()
            answer = sock.recv(65536)
        sender.join(30)
    assert answer.startswith(b"HTTP/1.1 504 ")


def _send_zeros(sock: socket.socket, size: int) -> None:
    piece = bytes(1024 * 1024)
    try:
        for _ in range(size // len(piece)):
            sock.sendall(piece)
    except OSError:
        pass  # the gateway gave up on the request and closed the connection


def test_a_head_of_5000_set_cookie_lines_passes_enforced(gateway: str) -> None:
    # Read off the socket: httpx's parser stops at a head of 100 KiB.
    port = int(gateway.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /many-cookies HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        received = _until_closed(sock)
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert body == b"ok"
    cookies = [line[12:] for line in lines if line.lower().startswith(b"set-cookie: ")]
    assert cookies == MANY_COOKIES[:-1]  # in order, all but the tracking cookie (no consent)


def test_a_body_too_large_is_refused_before_the_client_sends_it(gateway: str) -> None:
    port = int(gateway.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /ok HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 413 ")


def test_a_client_that_leaves_before_the_answer_closes_the_upstream_connection(
    raw: RawUpstream, tmp_path: Path
) -> None:
    before = raw.hung_up
    with serve(tmp_path, f"http://127.0.0.1:{raw.port}") as (url, _):  # 60 s to answer
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(url + "/hang", timeout=httpx.Timeout(10, read=0.3))
        deadline = time.monotonic() + 10
        while raw.hung_up == before:
            assert time.monotonic() < deadline, "the upstream connection stayed open"
            time.sleep(0.02)


def test_a_head_answered_with_a_body_has_none(gateway: str) -> None:
    with httpx.Client(base_url=gateway) as client:
        head = client.head("/ok")  # the raw server sends its body all the same
        assert head.status_code == 200
        assert head.headers["content-length"] == "2"
        assert head.content == b""
        assert client.get("/ok").text == "ok"


def test_a_204_has_no_body_and_interim_responses_are_not_passed_on(gateway: str) -> None:
    with httpx.Client(base_url=gateway) as client:
        empty = client.get("/no-content")
        assert (empty.status_code, empty.content, empty.headers["x-kind"]) == (204, b"", "none")
        final = client.get("/interim")
        assert (final.status_code, final.text) == (200, "ok")


def _until_closed(sock: socket.socket) -> bytes:
    pieces = []
    while data := sock.recv(1 << 20):
        pieces.append(data)
    return b"".join(pieces)


def test_a_websocket_handshake_the_upstream_does_not_answer_is_a_504(gateway: str) -> None:
    with pytest.raises(InvalidStatus) as answered:
        connect("ws" + gateway.removeprefix("http") + "/slow", proxy=None, open_timeout=30)
    assert answered.value.response.status_code == 504


def test_a_websocket_handshake_answered_with_something_not_http_is_a_502(gateway: str) -> None:
    with pytest.raises(InvalidStatus) as answered:
        connect("ws" + gateway.removeprefix("http") + "/not-http", proxy=None, open_timeout=30)
    assert answered.value.response.status_code == 502
    assert httpx.get(gateway + "/ok").text == "ok"
