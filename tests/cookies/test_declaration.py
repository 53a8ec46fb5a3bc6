"""The cookie declaration the banner's preferences dialog lists."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gateway import ConsentMiddleware, Settings
from gateway.cookies.declaration import (
    MAX_PENDING_VISITORS,
    RULES_PER_VISITOR,
    SITE,
    SeenRules,
    build,
    display_name,
)
from gateway.cookies.rules import CookieRule
from tests.support.apps import SECRET, Gateway, client_for, sets_cookies


def rule(
    name: str,
    match: str = "exact",
    *,
    category: str = "analytics",
    vendor: str = "Acme Analytics",
    origin: str = "builtin:analytics.toml",
) -> CookieRule:
    return CookieRule.from_mapping(
        {
            "name": name,
            "match": match,
            "category": category,
            "retention": "1 year",
            "purpose": "Counts visits.",
        },
        vendor=vendor,
        docs="https://acme.example/cookies",
        origin=origin,
    )


@pytest.mark.parametrize(
    ("name", "match", "shown"),
    [
        ("_ga", "exact", "_ga"),
        ("_ga_", "prefix", "_ga_…"),
        ("mp_[0-9a-f]+_mixpanel", "pattern", "mp_…_mixpanel"),
        (r"IR_\d+", "pattern", "IR_…"),
        (r"visitor_id\d+(-hash)?", "pattern", "visitor_id…"),
        (r"_pk_ses\.\d+\.[0-9a-f]{4}", "pattern", "_pk_ses.….…"),
    ],
)
def test_names_are_shown_as_a_visitor_can_read_them(name: str, match: str, shown: str) -> None:
    assert display_name(rule(name, match)) == shown


def test_built_in_rules_are_listed_only_once_seen() -> None:
    seen_rule, unseen_rule = rule("_ga"), rule("_hjid", vendor="Hotjar")
    site = CookieRule.from_mapping(
        {"name": "cart", "category": "essential", "retention": "session", "purpose": "Cart."},
        vendor=None,
        docs=None,
        origin="site",
    )
    listed = build([site, seen_rule, unseen_rule], {"exact:_ga"}, set(), include_seen=True)
    assert [entry["name"] for entry in listed["analytics"]] == ["_ga"]
    assert listed["essential"] == [
        {"name": "cart", "vendor": "site", "purpose": "Cart.", "retention": "session"}
    ]
    assert build([seen_rule], {"exact:_ga"}, set(), include_seen=False)["analytics"] == []


def test_a_declared_vendor_is_listed_whole_with_its_third_party_cookies() -> None:
    player = rule("VISITOR_INFO1_LIVE", vendor="YouTube", category="marketing")
    third_party = CookieRule(**{**_fields(player), "domain": "youtube.com"})
    listed = build([third_party, rule("_ga")], set(), {"YouTube"}, include_seen=True)
    assert listed["marketing"] == [
        {
            "name": "VISITOR_INFO1_LIVE",
            "vendor": "YouTube",
            "purpose": "Counts visits.",
            "retention": "1 year",
            "domain": "youtube.com",
        }
    ]
    assert listed["analytics"] == []


def test_a_site_rule_shadows_the_built_in_rule_of_the_same_name() -> None:
    site = rule("_ga", vendor="Our own analytics", origin="site")
    listed = build([site, rule("_ga")], {"exact:_ga"}, set(), include_seen=True)
    assert [entry["vendor"] for entry in listed["analytics"]] == ["Our own analytics"]


def _fields(cookie_rule: CookieRule) -> dict[str, Any]:
    return {name: getattr(cookie_rule, name) for name in cookie_rule.__slots__}


def test_rules_the_site_sets_are_listed_at_once_and_batched() -> None:
    batches: list[int] = []
    seen = SeenRules(on_pending=lambda: batches.append(1))
    ga, site = rule("_ga"), rule("cart", origin="site")
    for _ in range(3):
        seen.note(ga, SITE)
        seen.note(site, SITE)
    assert seen.known == {"exact:_ga"}
    assert seen.take() == ({"exact:_ga"}, {}) and batches == [1]
    assert seen.take() == (set(), {})
    seen.put_back({"exact:_ga"}, {})
    assert seen.take() == ({"exact:_ga"}, {}) and batches == [1, 1]


def test_rules_browsers_send_are_vouched_for_per_network_and_bounded() -> None:
    seen = SeenRules()
    rules = [rule(f"made_up_{number}") for number in range(RULES_PER_VISITOR + 10)]
    for made_up in rules:
        seen.note(made_up, "198.51.100.0")
    seen.note(rules[0], "203.0.113.0")
    seen.note(rule("_ga"), SITE)
    seen.note(rule("_ga"), "203.0.113.0")  # listed already: nothing to vouch for
    set_keys, sent = seen.take()
    assert set_keys == {"exact:_ga"} and seen.known == {"exact:_ga"}
    assert len(sent["198.51.100.0"]) == RULES_PER_VISITOR
    assert sent["203.0.113.0"] == {"exact:made_up_0"}
    for number in range(MAX_PENDING_VISITORS + 5):
        seen.note(rules[0], f"network {number}")
    assert len(seen.take()[1]) == MAX_PENDING_VISITORS


async def test_the_declaration_lists_the_cookies_the_site_uses(make_gateway: Gateway) -> None:
    # One visitor is enough here; tests/cookies/test_declaration_server.py counts them.
    gateway = make_gateway(sets_cookies("_ga", "sessionid"), declare_seen_visitors=1)
    async with client_for(gateway) as client:
        before = (await client.get("/_consent/declaration")).json()
        await client.get("/")
        client.cookies.set("_pk_id.1.1fff", "set-by-javascript")
        await client.get("/", headers={"user-agent": "Mozilla/5.0 Firefox/133.0"})  # no bot
        response = await client.get("/_consent/declaration")
    listed = response.json()
    names = {category: [e["name"] for e in entries] for category, entries in listed.items()}
    assert names["analytics"] == ["_ga", "_pk_id.…"]
    assert names["essential"] == ["cg_consent", "sessionid"]
    assert before["analytics"] == []
    assert all("_hjid" not in entries for entries in names.values())
    assert response.headers["cache-control"] == "public, max-age=300"


async def test_replicas_and_restarts_list_the_same_cookies(tmp_path: Path) -> None:
    settings = Settings.load(
        environ={}, secret=SECRET, database_url=f"sqlite:///{tmp_path / 'shared.db'}"
    )
    seeing = ConsentMiddleware(sets_cookies("_fbp"), settings)
    async with client_for(seeing) as client:
        await client.get("/")
        await client.get("/_consent/declaration")  # writes what it saw
    await seeing.aclose()
    other = ConsentMiddleware(sets_cookies(), settings)
    async with client_for(other) as client:
        listed = (await client.get("/_consent/declaration")).json()
    assert [entry["name"] for entry in listed["marketing"]] == ["_fbp"]


async def test_seen_rules_are_written_without_a_declaration_request(tmp_path: Path) -> None:
    settings = Settings.load(
        environ={}, secret=SECRET, database_url=f"sqlite:///{tmp_path / 'shared.db'}"
    )
    gateway = ConsentMiddleware(sets_cookies("_fbp"), settings)
    gateway.gateway.api.seen_flush_seconds = 0.01
    async with client_for(gateway) as client:
        await client.get("/")
    for _ in range(500):  # the write happens in the background, soon after the request
        if gateway.gateway.store.get().cookie_rules_seen():
            break
        await asyncio.sleep(0.01)
    assert gateway.gateway.store.get().cookie_rules_seen() == {"exact:_fbp"}
    await gateway.aclose()


async def test_seen_rules_still_pending_are_written_when_the_gateway_closes(
    tmp_path: Path,
) -> None:
    settings = Settings.load(
        environ={}, secret=SECRET, database_url=f"sqlite:///{tmp_path / 'shared.db'}"
    )
    gateway = ConsentMiddleware(sets_cookies("_fbp"), settings)
    gateway.gateway.api.seen_flush_seconds = 3600
    async with client_for(gateway) as client:
        await client.get("/")
    assert gateway.gateway.store.get().cookie_rules_seen() == set()  # not due for an hour
    await gateway.aclose()
    reopened = ConsentMiddleware(sets_cookies(), settings)
    assert reopened.gateway.store.get().cookie_rules_seen() == {"exact:_fbp"}
    await reopened.aclose()


async def test_only_the_site_rules_without_seen_cookies(make_gateway: Gateway) -> None:
    site_rule = {"name": "cart", "category": "essential", "retention": "1 day", "purpose": "x"}
    gateway = make_gateway(sets_cookies("_ga"), declare_seen_cookies=False, cookies=[site_rule])
    async with client_for(gateway) as client:
        await client.get("/")
        listed = (await client.get("/_consent/declaration")).json()
    assert listed["analytics"] == []
    # by vendor: "consent-gateway" before "site"
    assert [entry["name"] for entry in listed["essential"]] == ["cg_consent", "cart"]


def test_an_unknown_declared_vendor_is_refused_at_start(make_gateway: Gateway) -> None:
    with pytest.raises(ValueError, match=r"declared_vendors: .*'Youtube'"):
        make_gateway(declared_vendors=["Youtube"])


async def test_a_failing_store_still_gives_this_replicas_declaration(
    make_gateway: Gateway,
) -> None:
    gateway = make_gateway(sets_cookies("_ga"))

    class Broken:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("database down")

    gateway.gateway.store._store = Broken()  # type: ignore[assignment]
    async with client_for(gateway) as client:
        await client.get("/")
        response = await client.get("/_consent/declaration")
    assert response.status_code == 200
    assert [entry["name"] for entry in response.json()["analytics"]] == ["_ga"]
    assert 'operation="note_cookie_rules"' in gateway.gateway.metrics.exposition().decode()
