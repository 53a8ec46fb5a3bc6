"""Remembered answers are bounded in bytes, not only in entries: after many requests with
large, never repeated headers, no table the gateway keeps holds more than its bound, and
none holds a key longer than it may (a consent cookie longer than a valid one is neither
verified nor remembered)."""

from __future__ import annotations

import gc
import re
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from gateway import ConsentMiddleware
from gateway.consent.codec import MAX_COOKIE_VALUE_LENGTH, ConsentCookieCodec
from gateway.consent.state import ALL_GRANTED, Decision, new_consent_id
from gateway.cookies.rules import CookieRule
from gateway.memo import Memo
from gateway.proxies import MAX_ADDRESS_LENGTH, TrustedProxies
from tests.support.servers import running

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


@pytest.mark.slow
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


def test_a_memo_counts_its_misses_evictions_and_the_hits_callers_report() -> None:
    memo: Memo[str, int] = Memo("test", max_entries=2, max_bytes=1000, max_key=10)
    memo.put("a", 1, 1)
    memo.put("b", 2, 1)
    memo.put("c", 3, 1)  # a third entry passes the bound: cleared first
    memo.put("x" * 11, 4, 11)  # too long to keep: worked out all the same
    assert (memo.misses, memo.evictions, memo.hits) == (4, 1, 0)
    assert memo.table == {"c": 3}
    memo.clear()
    assert not memo.table and memo.size == 0 and memo.misses == 4  # counts survive a clear
    memo.disable()
    memo.put("d", 5, 1)
    assert not memo.table and memo.misses == 5


def _vendor_file(path: Path, category: str) -> None:
    path.write_text(
        '[[vendor]]\nname = "Mystery"\ndocs = "https://mystery.example/cookies"\n'
        f'cookies = [{{ name = "mystery", category = "{category}", retention = "1 day", '
        'purpose = "A test cookie." }]\n',
        encoding="utf-8",
    )


def _cache_sample(text: str, family: str, cache: str) -> float:
    found = re.search(rf'^consent_gateway_cache_{family}{{cache="{cache}"}} (\S+)$', text, re.M)
    assert found is not None, (family, cache)
    return float(found.group(1))


async def test_the_memos_count_requests_show_in_metrics_and_clear_on_a_rules_reload(
    make_gateway: Gateway, tmp_path: Path
) -> None:
    rules = tmp_path / "site-rules.toml"
    _vendor_file(rules, "essential")
    middleware = make_gateway(rule_files=[str(rules)])  # opt-in, no choice: essential only
    gateway = middleware.gateway
    transport = httpx.ASGITransport(app=middleware)
    headers = {"cookie": "mystery=1; _ga=GA1.1.1.1", "user-agent": "Mozilla/5.0 Firefox/133.0"}
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
        first = await client.get("/", headers=headers)
        assert first.json()["received"] == ["mystery"]
        visits = gateway.memos["visits"][0]
        assert (visits.hits, visits.misses) == (0, 1)
        await client.get("/", headers=headers)
        await client.get("/", headers=headers)
        assert (visits.hits, visits.misses) == (2, 1)
        assert len(visits.table) == 1
        text = (await client.get("/_consent/metrics", headers=headers)).text
        assert _cache_sample(text, "hits_total", "visits") == 2 + 1  # the scrape's own visit
        assert _cache_sample(text, "misses_total", "visits") == 1
        assert _cache_sample(text, "entries", "visits") == 1
        assert _cache_sample(text, "misses_total", "cookie_rules") >= 2  # mystery, _ga
        assert _cache_sample(text, "evictions_total", "visits") == 0

        _vendor_file(rules, "marketing")  # the file changes: remembered answers still stand
        assert (await client.get("/", headers=headers)).json()["received"] == ["mystery"]
        gateway.reload_rules()
        assert all(not memo.table for group in gateway.memos.values() for memo in group)
        assert (await client.get("/", headers=headers)).json()["received"] == []
        assert visits.misses == 2
        rules.write_text("[[vendor]\n", encoding="utf-8")
        with pytest.raises(ValueError, match=r"site-rules\.toml"):
            gateway.reload_rules()
        assert (await client.get("/", headers=headers)).json()["received"] == []  # as before


async def test_cleared_memos_give_fresh_answers_after_the_rules_object_changed(
    make_gateway: Gateway,
) -> None:
    middleware = make_gateway()
    gateway = middleware.gateway
    classifier = gateway.cookies.classifier
    transport = httpx.ASGITransport(app=middleware)
    headers = {"cookie": "mystery=1"}
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
        # an unknown name passes by default (unknown_cookies)
        assert (await client.get("/", headers=headers)).json()["received"] == ["mystery"]
        rule = CookieRule.from_mapping(
            {"name": "mystery", "category": "marketing", "retention": "1 day", "purpose": "T."},
            vendor="site",
            docs=None,
            origin="site",
        )
        classifier.replace(list(classifier.rules), [rule])  # the classifier's own memo only
        again = await client.get("/", headers=headers)
        assert again.json()["received"] == ["mystery"]  # the visit is remembered
        gateway.clear_memos()
        assert (await client.get("/", headers=headers)).json()["received"] == []


def test_cache_metrics_are_exported_only_when_metrics_are_on(make_gateway: Gateway) -> None:
    on = make_gateway().gateway.metrics.exposition().decode()
    assert 'consent_gateway_cache_hits_total{cache="visits"} 0.0' in on
    assert 'consent_gateway_cache_entries{cache="pages"} 0.0' in on
    off = make_gateway(metrics=False).gateway.metrics.exposition().decode()
    assert "consent_gateway_cache_" not in off


def test_every_memo_the_gateway_keeps_is_listed_by_name(make_gateway: Gateway) -> None:
    middleware = make_gateway()
    listed = {id(memo) for group in middleware.gateway.memos.values() for memo in group}
    found = {id(table) for table in _tables(middleware.gateway) if isinstance(table, Memo)}
    assert found <= listed, "a memo outside Gateway.memos is never counted nor cleared"


async def _page_with_csp_and_session(request: Request) -> HTMLResponse:
    response = HTMLResponse(PAGE, headers={"content-security-policy": "script-src 'self'"})
    response.set_cookie("sessionid", secrets.token_hex(8))  # a new one each time
    return response


async def test_a_policy_is_judged_once_though_each_response_sets_its_own_cookie(
    make_gateway: Gateway,
) -> None:
    middleware = make_gateway(Starlette(routes=[Route("/", _page_with_csp_and_session)]))
    verdicts = middleware.gateway.memos["csp_verdicts"][0]
    transport = httpx.ASGITransport(app=middleware)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
        for _ in range(3):
            page = await client.get("/", headers={"cookie": f"sessionid={secrets.token_hex(8)}"})
            assert '<script src="/_consent/banner.' in page.text  # 'self' lets it in
    assert (verdicts.misses, verdicts.hits) == (1, 2)


def test_every_memo_name_is_documented(make_gateway: Gateway) -> None:
    analytics = {"plausible": {"upstream": "http://127.0.0.1:9"}, "reduce_user_agent": True}
    names = set(make_gateway(analytics=analytics).gateway.memos)
    assert {"visits", "pages", "tracker_urls", "scrubbed_urls"} <= names
    docs = (Path(__file__).parents[1] / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert {name for name in names if f"`{name}`" not in docs} == set()
