"""Remembered answers are bounded in bytes, not only in entries: after many requests with
large, never repeated headers, no table the gateway keeps holds more than its bound, and
none holds a key longer than it may (a consent cookie longer than a valid one is neither
verified nor remembered)."""

from __future__ import annotations

import gc
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from gateway import ConsentMiddleware
from gateway.consent.codec import MAX_COOKIE_VALUE_LENGTH, ConsentCookieCodec
from gateway.consent.state import ALL_GRANTED, Decision, new_consent_id
from gateway.memo import Memo
from gateway.proxies import MAX_ADDRESS_LENGTH, TrustedProxies
from tests.conftest import running

Gateway = Callable[..., ConsentMiddleware]
PAGE = (
    "<html><head><title>t</title></head><body>"
    '<script src="https://connect.facebook.net/en_US/fbevents.js"></script></body></html>'
)


def test_a_memo_keeps_its_bytes_and_refuses_long_keys() -> None:
    memo: Memo[str, int] = Memo("test", max_entries=100, max_bytes=1000, max_key=300)
    table = memo.table
    assert memo.put("x" * 301, 1, 301) == 1
    assert not table  # worked out, not filed
    for number in range(50):
        memo.put(f"{number:03d}" + "y" * 197, number, 200)
        assert memo.size <= 1000 and len(table) <= 5
    memo.put("last", 7, 4)
    assert memo.table is table and table["last"] == 7  # cleared in place
    off: Memo[str, int] = Memo("test", max_entries=0, max_bytes=1000, max_key=300)
    assert off.put("a", 1, 1) == 1 and not off.table


def test_the_longest_valid_consent_cookie_fits_and_a_longer_one_is_not_verified() -> None:
    codec = ConsentCookieCodec(["s" * 32], 86_400)
    version = "v" * 32  # the longest policy version
    value = codec.encode(Decision(new_consent_id(), ALL_GRANTED, version, datetime.now(UTC)))
    assert len(value) <= MAX_COOKIE_VALUE_LENGTH
    assert codec.decode(value, version) is not None
    padded = value + "=" * (MAX_COOKIE_VALUE_LENGTH + 1 - len(value))
    assert codec.decode(padded, version) is None


def test_a_forwarded_hop_longer_than_an_address_is_cut_before_any_memo() -> None:
    # The client address keys the GeoIP and IP-truncation memos (lru_cache, by count only).
    proxies = TrustedProxies(["127.0.0.1"])
    hop = proxies.client("127.0.0.1", ["x" * 10_000])
    assert hop is not None and len(hop) <= MAX_ADDRESS_LENGTH
    longest = "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%fifteen-letters]:65535"
    assert proxies.client("127.0.0.1", [longest]) == longest[1:-7]  # never cut
    assert proxies.client("127.0.0.1", ["[2001:db8::1]:4711"]) == "2001:db8::1"


def _key_bytes(key: object) -> int:
    if isinstance(key, str | bytes):
        return len(key)
    if isinstance(key, tuple | frozenset):
        return sum(_key_bytes(part) for part in key)
    return 0


def _tables(root: object) -> Iterator[dict[object, object] | Memo[object, object]]:
    """Every memo and dict reachable from ``root`` through the gateway's own objects and
    containers (a memo's table as the memo)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Memo):
            seen.add(id(item.table))
            yield item
            continue
        if isinstance(item, dict):
            yield item
        elif not (
            isinstance(item, list | tuple | set | frozenset)
            or type(item).__module__.startswith("gateway")
        ):
            continue
        stack.extend(gc.get_referents(item))


def _html(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


def test_no_table_holds_more_than_its_bound_after_large_distinct_headers(
    make_gateway: Gateway,
) -> None:
    gateway = make_gateway(Starlette(routes=[Route("/", _html)]))
    with running(gateway) as url, httpx.Client(base_url=url) as client:
        for number in range(1200):
            consent = secrets.token_urlsafe(6000 if number % 100 else 24_000)
            name = "c" + secrets.token_hex(8)
            headers = {
                "cookie": f"cg_consent={consent}; {name}={secrets.token_hex(1000)}",
                "user-agent": "Mozilla/5.0 " + secrets.token_hex(600),
            }
            assert client.get("/", headers=headers).status_code == 200
    memos = 0
    for table in _tables(gateway):
        if isinstance(table, Memo):
            memos += 1
            held = sum(_key_bytes(key) for key in table.table)
            assert held <= table.max_bytes + 64 * len(table.table), held
            assert all(_key_bytes(key) <= table.max_key + 64 for key in table.table)
        else:  # a table of remembered answers outside a Memo would be unbounded
            held = sum(_key_bytes(key) for key in table)
            assert held <= 1024 * 1024, (len(table), held)
    assert memos >= 10  # visits, states, cookie names, User-Agents, pages... all found
