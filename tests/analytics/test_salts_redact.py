"""Daily salts shared through the store, and the pure redaction functions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from gateway.analytics.outbox import OutboxStore
from gateway.analytics.redact import RedactionRules, Redactor, TextFields
from gateway.analytics.salts import DailySalts, visitor_hash
from gateway.consent.agents import AgentClassifier
from gateway.proxies import TrustedProxies, truncate_ip
from gateway.store.handle import StoreHandle

RULES = RedactionRules.load()
REDACTOR = Redactor(RULES, agents=AgentClassifier.load(), reduce_user_agent=True)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 23, 59, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_replicas_hash_alike_today_and_differently_tomorrow(tmp_path: Path) -> None:
    handle = StoreHandle(f"sqlite:///{tmp_path / 'salts.db'}")
    store = OutboxStore(handle)
    clock = Clock()
    one, two = DailySalts(store.call, clock), DailySalts(store.call, clock)

    async def salts() -> tuple[bytes, bytes]:
        return await one.current(), await two.current()

    first, second = asyncio.run(salts())
    assert first == second and len(first) == 32
    clock.now += timedelta(minutes=2)  # past midnight (UTC)
    tomorrow = asyncio.run(one.current())
    assert tomorrow != first
    clock.now += timedelta(days=1)
    asyncio.run(one.current())
    assert handle.get().salt_days() == ["2026-12-02", "2026-12-03"]  # 48 hours at most
    store.close()
    handle.close()


def test_the_visitor_hash_depends_on_every_input() -> None:
    base = visitor_hash(b"s" * 32, "shop.example", "203.0.113.0", "Firefox")
    assert base == visitor_hash(b"s" * 32, "shop.example", "203.0.113.0", "Firefox")
    for other in (
        visitor_hash(b"t" * 32, "shop.example", "203.0.113.0", "Firefox"),
        visitor_hash(b"s" * 32, "blog.example", "203.0.113.0", "Firefox"),
        visitor_hash(b"s" * 32, "shop.example", "198.51.100.0", "Firefox"),
        visitor_hash(b"s" * 32, "shop.example", "203.0.113.0", "Chrome"),
    ):
        assert other != base


def test_ip_truncation_keeps_only_the_network() -> None:
    assert truncate_ip("203.0.113.77") == "203.0.113.0"
    assert truncate_ip("203.0.113.77", ipv4_prefix=16) == "203.0.0.0"
    assert truncate_ip("2001:db8:abcd:12:1:2:3:4") == "2001:db8:abcd::"
    assert truncate_ip("::ffff:198.51.100.9") == "198.51.100.0"
    assert truncate_ip("fe80::1%eth0") == "fe80::"
    assert truncate_ip("not an address") is None


@given(st.ip_addresses())
def test_no_truncated_address_keeps_its_host_part(address: object) -> None:
    truncated = truncate_ip(str(address))
    assert truncated is not None
    assert truncate_ip(truncated) == truncated
    if ":" not in truncated:
        assert truncated.endswith(".0")


def test_forwarded_for_is_read_from_the_right() -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "2001:db8::/32"])
    assert proxies.client("10.0.0.5", ["198.51.100.7, 203.0.113.9, 10.1.1.1"]) == "203.0.113.9"
    assert proxies.client("10.0.0.5", ["10.2.2.2", "10.3.3.3"]) == "10.2.2.2"
    assert proxies.client("192.0.2.1", ["198.51.100.7"]) == "192.0.2.1"  # untrusted peer
    assert proxies.client("10.0.0.5", []) == "10.0.0.5"
    assert proxies.client("10.0.0.5", ["garbage, 203.0.113.9"]) == "203.0.113.9"


def test_forwarded_for_hops_with_ports_and_brackets_name_their_address() -> None:
    # Azure Application Gateway writes "address:port"; IPv6 hops come in brackets.
    proxies = TrustedProxies(["10.0.0.0/8", "2001:db8:ffff::/48"])
    assert proxies.client("10.0.0.5", ["198.51.100.77:4711"]) == "198.51.100.77"
    assert proxies.client("10.0.0.5", ["[2001:db8::1]:4711"]) == "2001:db8::1"
    assert proxies.client("10.0.0.5", ["[2001:db8::1]"]) == "2001:db8::1"
    assert proxies.client("10.0.0.5", ["2001:db8::1"]) == "2001:db8::1"
    # A trusted hop with a port is still trusted: the visitor is the hop before it.
    assert proxies.client("10.0.0.5", ["203.0.113.9:1, 10.1.1.1:8080"]) == "203.0.113.9"
    assert proxies.client("10.0.0.5", ["203.0.113.9, [2001:db8:ffff::2]:443"]) == "203.0.113.9"
    assert truncate_ip(proxies.client("10.0.0.5", ["[2001:db8:1:2::1]:4711"]) or "") == (
        "2001:db8:1::"
    )


def test_urls_lose_personal_parameters_and_keep_their_encoding() -> None:
    url = (
        "https://u:p@shop.example/a%20b?q=red%20shoes&user_email=x&resetToken=1&api_key=2"
        "&keyword=boots&to=ann%40mail.example&gclid=C#access_token=t&section=2"
    )
    assert REDACTOR.url(url, marketing=False) == (
        "https://shop.example/a%20b?q=red%20shoes&keyword=boots#section=2"
    )
    assert "gclid=C" in REDACTOR.url(url, marketing=True)
    assert REDACTOR.url("http://[::1/broken", marketing=True) == ""


def test_no_email_address_is_left_in_a_url() -> None:
    # In a hash route, and as a parameter's name.
    assert REDACTOR.url("https://shop.example/#/users/ann@mail.example", False) == (
        "https://shop.example/"
    )
    assert REDACTOR.url("https://shop.example/?ann@mail.example&page=2", False) == (
        "https://shop.example/?page=2"
    )


def test_free_text_follows_one_rule() -> None:
    assert REDACTOR.text(None, "Checkout", marketing=False) == "Checkout"
    assert REDACTOR.text(None, "Orders of ann@mail.example", marketing=True) is None
    assert REDACTOR.text(None, "ann.lee+news@sub.mail.example", marketing=True) is None
    # A URL is scrubbed like a page, not dropped.
    assert REDACTOR.text(None, "https://shop.example/a?email=ann@mail.example&b=1", False) == (
        "https://shop.example/a?b=1"
    )
    # Names a site chose: personal data goes, click ids need marketing consent.
    for name in ("email", "phone", "name", "first_name", "lastName", "user_email"):
        assert REDACTOR.text(name, "x", marketing=True) is None, name
    assert REDACTOR.text("product_name", "Boots", marketing=False) == "Boots"
    assert REDACTOR.text("gclid", "Cj0", marketing=False) is None
    assert REDACTOR.text("gclid", "Cj0", marketing=True) == "Cj0"
    assert REDACTOR.text("count", 3, marketing=False) == 3


def test_free_text_fields_are_named_in_the_rules() -> None:
    fields = TextFields.parse(["dt", "ep.*", "dimension*", "p.*", "!p.$*", "p.$el_text"])
    assert [fields.field(name) is not None for name in ("dt", "ep.x", "dimension3", "dl")] == [
        True,
        True,
        True,
        False,
    ]
    document = {"p": {"a": "ann@mail.example", "$id": "ann@mail.example", "$el_text": "a@b.de"}}
    redactions: dict[str, int] = {}
    REDACTOR.scrub_text(fields, document, False, redactions)
    assert document == {"p": {"$id": "ann@mail.example"}}
    assert redactions == {"props": 1, "text": 1}


def test_external_referrers_become_their_origin() -> None:
    page = "https://shop.example/p"
    assert REDACTOR.referrer("https://www.google.com/search?q=x", page, True) == (
        "https://www.google.com/"
    )
    assert REDACTOR.referrer("https://www.shop.example/cart?sid=1&x=2", page, True) == (
        "https://www.shop.example/cart?x=2"
    )
    assert REDACTOR.referrer("http://news.example:8080/a", page, True) == (
        "http://news.example:8080/"
    )


def test_reduced_user_agents_name_only_browser_major_os_and_device() -> None:
    agent = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.6778.85 Safari/537.36"
    )
    reduced = REDACTOR.user_agent(agent)
    assert "Chrome/131.0.0.0" in reduced and "6778" not in reduced
    described = AgentClassifier.load().describe(reduced)
    assert (described.browser_family, described.browser_major) == ("Chrome", "131")
    assert described.os_family == "Windows" and described.device_class == "desktop"
