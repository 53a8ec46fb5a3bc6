"""The gateway in front of nginx (Debian's package), as a visitor's browser meets it: the
banner injected into nginx's gzip page, its tracking cookie dropped until consent, the
forwarding headers nginx receives, and 100 MB through with the gateway's memory bounded."""

from __future__ import annotations

import asyncio
import gzip
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.upstreams import PAGE, echoed, serve

pytestmark = pytest.mark.slow  # the gateway in a process of its own, real upstreams

HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8", "accept-encoding": "gzip, br"}


@pytest.fixture(scope="module")
def gateway(nginx: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    with serve(tmp_path_factory.mktemp("gateway"), nginx) as running:
        yield running


def test_the_banner_is_injected_into_nginx_s_gzip_page(gateway: tuple[str, int]) -> None:
    response = httpx.get(gateway[0] + "/", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-encoding"] in ("gzip", "br")
    assert "A static site" in response.text
    assert "/_consent/" in response.text and "banner" in response.text
    assert "/_consent/" not in PAGE


def test_tracking_cookie_is_dropped_without_consent_and_kept_with_it(
    gateway: tuple[str, int],
) -> None:
    origin = {"origin": gateway[0]}
    with httpx.Client(base_url=gateway[0]) as client:
        refused = client.get("/", headers=HTML)
        set_cookies = refused.headers.get_list("set-cookie")
        assert any(value.startswith("sessionid=") for value in set_cookies)
        assert not any(value.startswith("_ga=") for value in set_cookies)
        assert client.post("/_consent/state", json={"all": True}, headers=origin).status_code == 200
        granted = client.get("/", headers=HTML)
        assert any(value.startswith("_ga=") for value in granted.headers.get_list("set-cookie"))


def test_forwarding_headers_come_from_the_gateway_not_the_client(gateway: tuple[str, int]) -> None:
    spoofed = {
        "x-forwarded-for": "203.0.113.9",
        "x-forwarded-host": "evil.example",
        "forwarded": "for=203.0.113.9",
        "x-custom": "kept",
        # A client naming the proxy's own headers in Connection cannot strip them.
        "connection": "keep-alive, X-Forwarded-For, Forwarded, Host, X-Forwarded-Proto",
    }
    seen = echoed(httpx.get(gateway[0] + "/echo", headers=spoofed))
    port = gateway[0].rsplit(":", 1)[1]
    assert seen["host"] == f"127.0.0.1:{port}"
    assert seen["xff"] == "127.0.0.1"
    assert seen["proto"] == "http"
    assert seen["xfh"] == f"127.0.0.1:{port}"
    assert seen["forwarded"] == f'for=127.0.0.1;proto=http;host="127.0.0.1:{port}"'
    assert seen["custom"] == "kept"


def test_a_header_connection_names_is_removed(gateway: tuple[str, int]) -> None:
    seen = echoed(
        httpx.get(gateway[0] + "/echo", headers={"x-custom": "hop", "connection": "x-custom"})
    )
    assert seen["custom"] == ""


def test_pages_are_asked_for_in_a_coding_the_gateway_decodes(gateway: tuple[str, int]) -> None:
    page = {"accept": "text/html", "accept-encoding": "gzip;q=1, compress, sdch, br"}
    seen = echoed(httpx.get(gateway[0] + "/echo", headers=page))
    assert seen["ae"] == "gzip;q=1, br"
    other = {"accept": "image/avif,image/webp", "accept-encoding": "gzip, compress, sdch"}
    seen = echoed(httpx.get(gateway[0] + "/echo", headers=other))
    assert seen["ae"] == "gzip, compress, sdch"
    nothing = {"accept": "text/html", "accept-encoding": "compress"}
    assert echoed(httpx.get(gateway[0] + "/echo", headers=nothing))["ae"] == "identity"


def test_head_and_304_come_without_a_body(gateway: tuple[str, int]) -> None:
    with httpx.Client(base_url=gateway[0]) as client:
        head = client.head("/big.bin")
        assert head.status_code == 200
        assert head.headers["content-length"] == str(100 * 1000 * 1000)
        assert head.content == b""
        etag = head.headers["etag"]
        cached = client.get("/big.bin", headers={"if-none-match": etag})
        assert cached.status_code == 304
        assert cached.content == b""
        # The connection still serves the next request.
        assert client.get("/echo").status_code == 200


def test_a_json_response_passes_through_byte_for_byte(gateway: tuple[str, int], nginx: str) -> None:
    headers = {"accept": "application/json", "accept-encoding": "gzip"}
    with httpx.stream("GET", nginx + "/data.json", headers=headers) as direct:
        expected = b"".join(direct.iter_raw())
    with httpx.stream("GET", gateway[0] + "/data.json", headers=headers) as proxied:
        assert proxied.headers["content-encoding"] == "gzip"
        assert b"".join(proxied.iter_raw()) == expected


def _peak_rss(pid: int) -> int:
    """The process's peak resident set size, in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_a_100_mb_download_streams_with_memory_bounded(gateway: tuple[str, int]) -> None:
    url, pid = gateway
    httpx.get(url + "/index.html", headers=HTML)  # the gateway's parts are built and warm
    before = _peak_rss(pid)
    received = 0
    with httpx.stream("GET", url + "/big.bin", timeout=60) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            received += len(chunk)
    assert received == 100 * 1000 * 1000
    assert _peak_rss(pid) - before < 30 * 1024 * 1024


def test_gzip_of_nginx_is_decoded_once(gateway: tuple[str, int]) -> None:
    raw = httpx.get(gateway[0] + "/", headers=HTML)
    assert raw.headers["content-encoding"] in ("gzip", "br")
    if raw.headers["content-encoding"] == "gzip":
        with httpx.stream("GET", gateway[0] + "/", headers=HTML) as streamed:
            body = b"".join(streamed.iter_raw())
        assert b"A static site" in gzip.decompress(body)


def test_forwarding_headers_of_a_trusted_proxy_are_kept_and_extended(
    nginx: str, tmp_path: Path
) -> None:
    with serve(tmp_path, nginx, trusted_proxies="127.0.0.1") as (url, _):
        sent = {
            "x-forwarded-for": "203.0.113.9",
            "x-forwarded-proto": "https",
            "x-forwarded-host": "shop.example",
        }
        seen = echoed(httpx.get(url + "/echo", headers=sent))
    port = url.rsplit(":", 1)[1]
    assert seen["host"] == f"127.0.0.1:{port}"  # as the gateway received it
    assert seen["xff"] == "203.0.113.9, 127.0.0.1"
    assert seen["proto"] == "https"
    assert seen["xfh"] == "shop.example"
    assert seen["forwarded"] == "for=203.0.113.9, for=127.0.0.1;proto=https;host=shop.example"


def test_one_date_and_one_server_header(gateway: tuple[str, int]) -> None:
    response = httpx.get(gateway[0] + "/data.json")
    assert len(response.headers.get_list("date")) == 1
    assert len(response.headers.get_list("server")) == 1
    assert "nginx" not in response.headers["server"]


def test_a_client_that_reads_slowly_holds_the_upstream_back(gateway: tuple[str, int]) -> None:
    """While the client reads nothing, the gateway stops reading from nginx instead of
    holding the 100 MB file in memory; the client then gets every byte."""
    url, pid = gateway
    port = int(url.rsplit(":", 1)[1])
    before = _peak_rss(pid)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: shop.example\r\n\r\n")
        received = len(sock.recv(65536))
        time.sleep(2)  # without backpressure, nginx sends it all meanwhile
        held = _peak_rss(pid) - before
        while received < 100 * 1000 * 1000:
            data = sock.recv(1024 * 1024)
            assert data
            received += len(data)
    assert held < 30 * 1024 * 1024


def test_an_http_1_0_request_without_host_gets_one(gateway: tuple[str, int]) -> None:
    url, _ = gateway
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /echo HTTP/1.0\r\n\r\n")
        answer = b""
        while data := sock.recv(65536):
            answer += data
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert f"\nhost=127.0.0.1:{port}\n".encode() in answer


async def test_many_requests_at_once_all_get_their_own_answer(gateway: tuple[str, int]) -> None:
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=gateway[0], limits=limits, timeout=60) as client:

        async def one(n: int) -> bool:
            response = await client.get("/echo", headers={"x-custom": str(n)})
            return echoed(response)["custom"] == str(n)

        assert all(await asyncio.gather(*(one(n) for n in range(200))))


def _but_length(response: httpx.Response) -> list[tuple[str, str]]:
    """The headers of ``response`` but those of its body's length and the date."""
    skip = {"content-length", "transfer-encoding", "date"}
    return sorted(
        (name, value) for name, value in response.headers.multi_items() if name not in skip
    )


def test_head_answers_with_the_headers_get_would(nginx: str, gateway: tuple[str, int]) -> None:
    """RFC 9110 section 9.3.2: HEAD gets GET's headers, Set-Cookie enforced alike; a page the
    gateway rewrites gets no Content-Length (its length comes from the rewritten body, which
    HEAD has not), as nginx drops it for the pages its gzip filter compresses."""
    direct = httpx.head(nginx + "/", headers=HTML)
    assert direct.headers["content-encoding"] == "gzip" and "content-length" not in direct.headers
    origin = {"origin": gateway[0]}
    with httpx.Client(base_url=gateway[0]) as client:
        for consent in ({"all": False}, {"all": True}):
            assert client.post("/_consent/state", json=consent, headers=origin).status_code == 200
            for coding in ("gzip, br", "identity"):
                asked = {**HTML, "accept-encoding": coding}
                get, head = client.get("/", headers=asked), client.head("/", headers=asked)
                assert "/_consent/" in get.text  # rewritten
                assert (head.status_code, head.content) == (200, b"")
                assert _but_length(head) == _but_length(get)
                assert "content-length" not in head.headers
                cookies = head.headers.get_list("set-cookie")
                assert any(value.startswith("_ga=") for value in cookies) == consent["all"]
            # What passes untouched keeps nginx's length.
            plain = {"accept": "application/json", "accept-encoding": "identity"}
            get, head = (
                client.get("/data.json", headers=plain),
                client.head("/data.json", headers=plain),
            )
            assert _but_length(head) == _but_length(get)
            assert head.headers["content-length"] == get.headers["content-length"]
