"""The access log of a real ``consent-gateway serve``, read from its standard output: one
line per request, client addresses truncated, personal query parameters and click ids
scrubbed (from ``rules/analytics.toml``), no cookie, the upstream's status and time."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.support.upstreams import RawUpstream, serve

pytestmark = pytest.mark.slow  # the gateway in a process of its own

AGENT = "AccessLogTest/1.0"
SECRET_COOKIE = "session=not-for-any-log-0f3c"
COMBINED = re.compile(
    r'^(?P<client>\S+) - - \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d+|-) '
    r'(?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)" (?P<upstream_status>\d+|-) '
    r"(?P<upstream_time>[\d.]+|-) (?P<request_time>[\d.]+)$"
)


def _requests(url: str, **extra: str) -> None:
    headers = {"user-agent": AGENT, "cookie": SECRET_COOKIE, **extra}
    query = "?email=ann%40mail.example&page=2&resetToken=abc&gclid=ad-click-1"
    referer = "https://shop.example/account?user_email=x&tab=orders"
    ok = httpx.get(url + "/ok" + query, headers={**headers, "referer": referer})
    assert ok.text == "ok"
    assert httpx.get(url + "/bad-status", headers=headers).status_code == 502
    assert httpx.get(url + "/_consent/health", headers=headers).status_code == 200
    assert httpx.get(url + "/users/ann@mail.example", headers=headers).status_code == 404


def _log(tmp_path: Path) -> str:
    return "".join(path.read_text() for path in tmp_path.glob("serve-*.log"))


def test_combined_lines_keep_no_personal_data(tmp_path: Path) -> None:
    with RawUpstream() as upstream:
        with serve(tmp_path, f"http://127.0.0.1:{upstream.port}") as (url, _):
            _requests(url)
            forged = {"user-agent": b'x" 200 1 "-" "forged\xe9'}  # no value can end its field
            assert httpx.get(url + "/ok", headers=forged).text == "ok"
        log = _log(tmp_path)
    assert '"x\\x22 200 1 \\x22-\\x22 \\x22forged\\xC3\\xA9" 200 ' in log
    assert "not-for-any-log" not in log
    assert "ann" not in log and "abc" not in log and "ad-click" not in log and "x&" not in log
    assert not re.search(r':\d+ - "GET', log)  # uvicorn's own access log is off
    lines = [COMBINED.match(line) for line in log.splitlines() if AGENT in line]
    assert len(lines) == 4
    assert all(lines), log
    by_request = {match["request"]: match for match in lines if match}
    assert list(by_request) == [
        "GET /ok?page=2 HTTP/1.1",
        "GET /bad-status HTTP/1.1",
        "GET /_consent/health HTTP/1.1",
        "GET [redacted] HTTP/1.1",
    ]
    ok = by_request["GET /ok?page=2 HTTP/1.1"]
    assert ok["client"] == "127.0.0.0"  # as analytics truncates it: the /24 network
    assert (ok["status"], ok["bytes"], ok["upstream_status"]) == ("200", "2", "200")
    assert ok["referer"] == "https://shop.example/account?tab=orders"
    assert ok["agent"] == AGENT
    assert float(ok["upstream_time"]) <= float(ok["request_time"])
    bad = by_request["GET /bad-status HTTP/1.1"]
    assert (bad["status"], bad["upstream_status"]) == ("502", "502")  # as nginx logs it
    health = by_request["GET /_consent/health HTTP/1.1"]
    assert (health["status"], health["upstream_status"], health["upstream_time"]) == (
        "200",
        "-",
        "-",
    )


def test_json_lines_with_full_addresses(tmp_path: Path) -> None:
    """Behind a trusted proxy, the visitor's address it names (the API's requests too)."""
    with RawUpstream() as upstream:
        with serve(
            tmp_path,
            f"http://127.0.0.1:{upstream.port}",
            access_log="json",
            access_log_full_addresses="true",
            trusted_proxies="127.0.0.1",
        ) as (url, _):
            _requests(url, **{"x-forwarded-for": "198.51.100.77"})
        log = _log(tmp_path)
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert [entry["target"] for entry in entries] == [
        "/ok?page=2",
        "/bad-status",
        "/_consent/health",
        "[redacted]",
    ]
    assert {entry["client"] for entry in entries} == {"198.51.100.77"}
    ok = entries[0]
    assert (ok["method"], ok["protocol"], ok["status"], ok["bytes"]) == ("GET", "HTTP/1.1", 200, 2)
    assert (ok["user_agent"], ok["upstream_status"]) == (AGENT, 200)
    assert ok["referer"] == "https://shop.example/account?tab=orders"
    assert 0 <= ok["upstream_time"] <= ok["request_time"]
    assert entries[2]["upstream_status"] is None and entries[2]["upstream_time"] is None
    assert "not-for-any-log" not in log


def test_off_writes_no_line(tmp_path: Path) -> None:
    with RawUpstream() as upstream:
        with serve(tmp_path, f"http://127.0.0.1:{upstream.port}", access_log="off") as (url, _):
            _requests(url)
        log = _log(tmp_path)
    assert AGENT not in log
    assert "/ok" not in log
