"""WebSockets through the gateway to a server written with npm's ``ws``: messages both ways,
text and binary, close codes passed on in both directions, pings on each hop, the
subprotocol negotiated through, refused cookies hidden on the handshake and dropped from the
101, a flood held back rather than buffered, and a refused or unreachable upstream a 502."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.support.servers import free_port
from tests.support.upstreams import serve

pytestmark = pytest.mark.slow  # the gateway in a process of its own, real upstreams


@pytest.fixture(scope="module")
def gateway(ws_echo: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    with serve(tmp_path_factory.mktemp("gateway"), ws_echo) as running:
        yield running


def ws_url(gateway: tuple[str, int], path: str = "/chat") -> str:
    return "ws" + gateway[0].removeprefix("http") + path


def opened(gateway: tuple[str, int], path: str = "/chat", **options: object) -> ClientConnection:
    return connect(ws_url(gateway, path), open_timeout=10, proxy=None, **options)  # type: ignore[arg-type]


def closes(upstream: str) -> list[int]:
    """The close codes the upstream received so far."""
    return httpx.get(upstream + "/closes").json()  # type: ignore[no-any-return]


def test_text_and_binary_messages_go_both_ways(gateway: tuple[str, int]) -> None:
    with opened(gateway) as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "hello"
        ws.send(b"\x00\x01binary\xff")
        assert ws.recv(timeout=10) == b"\x00\x01binary\xff"
        ws.send("ünïcödé ✓")
        assert ws.recv(timeout=10) == "ünïcödé ✓"


def test_a_megabyte_binary_message_arrives_whole(gateway: tuple[str, int]) -> None:
    message = bytes(range(256)) * 4096  # 1 MiB
    with opened(gateway, max_size=4 * 1024 * 1024) as ws:
        ws.send(message)
        assert ws.recv(timeout=30) == message


def test_the_upstream_s_close_code_reaches_the_client(gateway: tuple[str, int]) -> None:
    with opened(gateway) as ws:
        ws.send("close 4001")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert ws.close_code == 4001
    assert ws.close_reason == "bye from upstream"


def test_the_client_s_close_code_reaches_the_upstream(
    gateway: tuple[str, int], ws_echo: str
) -> None:
    before = len(closes(ws_echo))
    with opened(gateway) as ws:
        ws.send("x")
        ws.recv(timeout=10)
        ws.close(4002, "client leaves")
    ws.close(1000)
    for _ in range(200):
        if len(closes(ws_echo)) > before:
            break
        time.sleep(0.05)
    assert closes(ws_echo)[before:] == [4002]
    with opened(gateway) as ws:
        pass  # closed normally: 1000
    for _ in range(200):
        if len(closes(ws_echo)) > before + 1:
            break
        time.sleep(0.05)
    assert closes(ws_echo)[before:] == [4002, 1000]


def test_an_upstream_that_drops_the_connection_closes_the_client_s_with_1014(
    gateway: tuple[str, int],
) -> None:
    with opened(gateway) as ws:
        ws.send("drop")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert ws.close_code == 1014


def test_pings_are_answered_on_each_hop(gateway: tuple[str, int]) -> None:
    with opened(gateway) as ws:
        assert ws.ping(b"are you there").wait(10)  # the gateway answers the client's ping
        ws.send("ping")  # the upstream pings the gateway, which answers
        assert ws.recv(timeout=10) == "pong received"


def test_the_subprotocol_is_negotiated_with_the_upstream(gateway: tuple[str, int]) -> None:
    with opened(gateway, subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        ws.send("headers")
        seen = json.loads(ws.recv(timeout=10))
    assert seen["sec-websocket-protocol"] == "chat.v1, chat.v2"
    with opened(gateway, subprotocols=["chat.v1"]) as ws:
        assert ws.subprotocol is None


def test_the_handshake_is_forwarded_with_refused_cookies_hidden(gateway: tuple[str, int]) -> None:
    cookies = {"Cookie": "_ga=GA1.1.1.1; sessionid=s3ss10n", "X-Custom": "kept"}
    with opened(gateway, "/chat?room=1", additional_headers=cookies) as ws:
        ws.send("headers")
        seen = json.loads(ws.recv(timeout=10))
        set_cookies = ws.response.headers.get_all("Set-Cookie")
    assert seen["cookie"] == "sessionid=s3ss10n"
    assert seen["x-custom"] == "kept"
    assert seen["url"] == "/chat?room=1"
    assert seen["host"] == gateway[0].removeprefix("http://")
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    # The 101's cookies are enforced as any response's: the upstream's tracking one waits for
    # consent, and the one the browser holds is expired.
    assert "sessionid=ws1; Path=/" in set_cookies
    assert not any(value.startswith("_ga=GA1") for value in set_cookies), set_cookies
    assert any(value.startswith("_ga=; Max-Age=0") for value in set_cookies), set_cookies


def test_a_flood_is_held_back_not_buffered(gateway: tuple[str, int]) -> None:
    """300 MB offered by the upstream to a client that reads nothing: the gateway's memory
    stays bounded, and the messages still arrive once the client reads."""
    rss_before = _rss(gateway[1])
    with opened(gateway, max_size=2 * 1000 * 1000, max_queue=1, close_timeout=1) as ws:
        ws.send("flood 300")
        time.sleep(3)
        grown = _rss(gateway[1]) - rss_before
        for _ in range(20):
            assert len(ws.recv(timeout=10)) == 1000 * 1000
    assert grown < 60 * 1024 * 1024, f"the gateway grew by {grown} bytes"


def test_an_upstream_that_refuses_the_handshake_has_its_answer_passed_on(
    gateway: tuple[str, int],
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        opened(gateway, "/refuse")
    assert refused.value.response.status_code == 403
    assert refused.value.response.body == b"refused\n"


def test_an_unreachable_upstream_is_a_502(tmp_path: Path) -> None:
    with serve(tmp_path, f"http://127.0.0.1:{free_port()}") as running:
        with pytest.raises(InvalidStatus) as refused:
            opened(running)
        assert refused.value.response.status_code == 502
        assert httpx.get(running[0] + "/").status_code == 502


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_an_unreachable_upstream_is_skipped_for_the_next(tmp_path: Path, ws_echo: str) -> None:
    with serve(tmp_path, f"http://127.0.0.1:{free_port()}", ws_echo) as running:
        for _ in range(3):  # whichever is first in turn
            with opened(running) as ws:
                ws.send("hi")
                assert ws.recv(timeout=10) == "hi"
