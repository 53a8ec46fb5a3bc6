"""``RuleSet``: every rule file loaded together, and ``Gateway`` putting a new set in place:
cookie, tracker and bot rules and the CMP mappings read again (from a copy of the built-in
rules changed on disk), a broken file leaving the rules as they were, and the metrics of
both."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from gateway import ConsentMiddleware
from gateway.proxy.access_log import AccessLog
from gateway.resources import rules_dir
from gateway.ruleset import RuleSet, rule_sources
from gateway.settings import Settings
from tests.support.apps import SECRET, cookie_app, sets_cookies
from tests.support.servers import running
from tests.support.set_cookies import set_cookie_names

# Where ``rules_dir`` was imported by name: each reads the copy in these tests.
READERS = (
    "gateway.ruleset",
    "gateway.cookies.rules",
    "gateway.consent.agents",
    "gateway.consent.jurisdiction",
    "gateway.html.trackers",
    "gateway.analytics.redact",
    "gateway.consent.adapters.base",
    "gateway.consent.tcf",
    "gateway.consent.gpp",
)
PAGE = (
    b"<!doctype html><html><head><title>t</title>"
    b'<script src="https://cdn.zq-tracker.example/t.js"></script></head><body>hi</body></html>'
)
ZQ_TRACKER = """
[[vendor]]
name = "ZQ tracker"
docs = "https://zq-tracker.example/docs"
category = "marketing"
why = "It follows visitors across sites for advertising."
scripts = ["cdn.zq-tracker.example"]
"""
# Cookiebot's CookieConsent: statistics granted, marketing refused (percent-encoded as sent).
COOKIEBOT_STATISTICS = (
    "%7Bstamp%3A%27abc%3D%3D%27%2Cnecessary%3Atrue%2Cpreferences%3Afalse%2Cstatistics%3Atrue"
    "%2Cmarketing%3Afalse%2Cmethod%3A%27explicit%27%2Cver%3A1%2Cutc%3A1700000000000%7D"
)


@pytest.fixture
def rules_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the built-in rules, which the gateway reads instead of the package's."""
    copy = tmp_path / "rules"
    shutil.copytree(rules_dir(), copy)
    for module in READERS:
        monkeypatch.setattr(f"{module}.rules_dir", lambda: copy)
    return copy


def _settings(tmp_path: Path, **options: Any) -> Settings:
    return Settings.load(
        environ={},
        secret=SECRET,
        database_url=f"sqlite:///{tmp_path / 'consent.db'}",
        metrics=True,
        **options,
    )


def _page_app() -> Callable[..., Any]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": PAGE})

    return app


def _sample(text: str, name: str, labels: str = "") -> float | None:
    for line in text.splitlines():
        if line.startswith(name + labels + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_the_rule_set_counts_what_it_loaded(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        "[[vendor]]\nname = 'Shop'\ncookies = [{ name = 'promo_id', category = 'marketing', "
        "purpose = 'p', retention = '1 day' }]\n"
    )
    rules = RuleSet.load(_settings(tmp_path, rule_files=[str(site)]), trackers=True, geoip=False)
    counts = rules.counts()
    assert counts["cookie"] > 900 and counts["site_cookie"] == 1
    assert counts["tracker"] > 30 and counts["bot_token"] > 100 and counts["region"] > 200
    assert counts["analytics_name"] > 10
    assert "tracker" not in RuleSet.load(_settings(tmp_path), trackers=False, geoip=False).counts()


def test_the_sources_are_every_file_read(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    sources = rule_sources(_settings(tmp_path, rule_files=[str(site)]), trackers=True)
    names = {path.name for path in sources}
    assert {"bots.toml", "regions.toml", "analytics.toml", "trackers.toml", "site.toml"} <= names
    assert rules_dir() / "cookies" in sources
    assert set((rules_dir() / "cookies").glob("*.toml")) <= set(sources)
    without = rule_sources(_settings(tmp_path), trackers=False)
    assert "trackers.toml" not in {path.name for path in without}
    assert "cmp.toml" not in names  # the gateway's own cookie: no CMP read


def test_the_cmp_mappings_are_watched_for_the_adapters_in_use(tmp_path: Path) -> None:
    def watched(*adapters: str) -> set[str]:
        settings = _settings(tmp_path, consent_source=list(adapters))
        return {path.name for path in rule_sources(settings, trackers=False)}

    assert {"cmp.toml"} <= watched("cookiebot")
    assert not {"tcf.toml", "gpp.toml"} & watched("cookiebot")  # not read: cannot break it
    assert {"cmp.toml", "tcf.toml", "gpp.toml"} <= watched("onetrust", "tcf", "gpp")


@pytest.mark.parametrize(
    ("adapter", "name", "broken"),
    [
        (
            "cookiebot",
            "cmp.toml",
            "[cookiebot]\ncookie = 'CookieConsent'\n[cookiebot.categories]\nstatistics = 'stats'\n",
        ),
        ("cookiebot", "cmp.toml", "[cookiebot\n"),
        ("cookiebot", "cmp.toml", "[cookiebot]\ncategories = {}\n"),  # no cookie name
        ("tcf", "tcf.toml", "[categories]\nanalytics = [1, 25]\n"),
        ("gpp", "gpp.toml", "[refused-by]\nmarketing = ['selling']\n"),
    ],
)
def test_a_broken_cmp_mapping_fails_the_set_naming_it(
    tmp_path: Path, rules_copy: Path, adapter: str, name: str, broken: str
) -> None:
    settings = _settings(tmp_path, consent_source=[adapter])
    assert RuleSet.load(settings, trackers=False, geoip=False).source is not None
    (rules_copy / name).write_text(broken)
    with pytest.raises(ValueError, match=re.escape(name)):
        RuleSet.load(settings, trackers=False, geoip=False)


def _cookiebot_statistics(rules: Path, category: str) -> None:
    """rules/cmp.toml with Cookiebot's ``statistics`` mapped onto ``category``, replaced
    whole (a look never sees it half written)."""
    text = (rules / "cmp.toml").read_text()
    current = re.search(r'(?m)^statistics = "\w+"$', text)
    assert current is not None and "[cookiebot.categories]" in text[: current.start()]
    new = rules / "cmp.toml.new"
    new.write_text(text[: current.start()] + f'statistics = "{category}"' + text[current.end() :])
    os.replace(new, rules / "cmp.toml")


def _ga_passes(url: str) -> bool:
    """Whether the site's ``_ga`` (analytics) reaches a visitor whose Cookiebot cookie grants
    statistics and refuses marketing."""
    response = httpx.get(url, cookies={"CookieConsent": COOKIEBOT_STATISTICS})
    assert response.status_code == 200
    return "_ga" in set_cookie_names(response)


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.slow  # a real server, polled until the watcher has looked
def test_a_changed_cmp_mapping_decides_the_next_requests(
    tmp_path: Path, rules_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path, consent_source=["cookiebot"], rules_reload_interval=0.05)
    middleware = ConsentMiddleware(cookie_app(), settings)
    with running(middleware) as url:
        assert _ga_passes(url)  # statistics: analytics, granted
        before = httpx.get(url + "/_consent/metrics").text
        _cookiebot_statistics(rules_copy, "marketing")  # statistics granted, marketing not
        _until(lambda: not _ga_passes(url), "the changed cmp.toml was not read")
        assert (
            httpx.get(
                url + "/_consent/state", cookies={"CookieConsent": COOKIEBOT_STATISTICS}
            ).json()["categories"]["analytics"]
            is False
        )

        (rules_copy / "cmp.toml").write_text("[cookiebot]\ncookie = 'CookieConsent'\n[x\n")
        _until(lambda: "rules not reloaded" in caplog.text, "the broken cmp.toml was not seen")
        assert not _ga_passes(url)  # the last rules that read stay
        metrics = httpx.get(url + "/_consent/metrics").text
        assert _sample(metrics, "consent_gateway_rules_stale") == 1

        shutil.copy(rules_dir() / "cmp.toml", rules_copy / "cmp.toml.new")
        os.replace(rules_copy / "cmp.toml.new", rules_copy / "cmp.toml")
        _until(lambda: _ga_passes(url), "the mended cmp.toml was not read")
        metrics = httpx.get(url + "/_consent/metrics").text
    assert _sample(metrics, "consent_gateway_rules_reloads_total", '{result="ok"}') == 2
    assert _sample(metrics, "consent_gateway_rules_reloads_total", '{result="error"}') == 1
    assert _sample(metrics, "consent_gateway_rules_stale") == 0
    assert caplog.text.count("rules not reloaded") == 1  # reported once, not at every look
    # The answers were worked out again with each mapping; the memo's counters went on.
    choices, misses = '{cache="cmp_choices"}', "consent_gateway_cache_misses_total"
    counted = _sample(before, misses, choices) or 0
    assert counted >= 1 and (_sample(metrics, misses, choices) or 0) >= counted + 2
    assert "cmp.toml" in caplog.text


@pytest.mark.slow  # a real server in the test's event loop, where SIGHUP arrives
async def test_sighup_reads_the_cmp_mapping_again(tmp_path: Path, rules_copy: Path) -> None:
    settings = _settings(tmp_path, consent_source=["cookiebot"], rules_reload_interval=0)
    middleware = ConsentMiddleware(cookie_app(), settings)
    middleware.gateway.reload_on_hangup = True  # as `consent-gateway serve` sets it
    config = uvicorn.Config(middleware, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as serve leaves it until started
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        cookies = {"CookieConsent": COOKIEBOT_STATISTICS}
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", cookies=cookies
        ) as client:

            async def ga_passes() -> bool:
                return "_ga" in set_cookie_names(await client.get("/"))

            assert await ga_passes()
            _cookiebot_statistics(rules_copy, "marketing")
            assert await ga_passes()  # nothing watches: not yet
            os.kill(os.getpid(), signal.SIGHUP)
            deadline = time.monotonic() + 60
            while await ga_passes():
                assert time.monotonic() < deadline, "SIGHUP did not read cmp.toml again"
                await asyncio.sleep(0.05)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        signal.signal(signal.SIGHUP, before)


def test_a_broken_file_fails_the_whole_set_naming_it(tmp_path: Path, rules_copy: Path) -> None:
    (rules_copy / "bots.toml").write_text("[search\n")
    with pytest.raises(ValueError, match=r"bots\.toml"):
        RuleSet.load(_settings(tmp_path), trackers=True, geoip=False)


async def test_tracker_and_bot_rules_are_read_again(tmp_path: Path, rules_copy: Path) -> None:
    middleware = ConsentMiddleware(_page_app(), _settings(tmp_path))
    gateway = middleware.gateway
    transport = httpx.ASGITransport(app=middleware)
    agent = {"user-agent": "ZqCrawler/2.0 (+https://zq.example/bot)"}
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
        page = await client.get("/")
        assert b'<script src="https://cdn.zq-tracker.example/t.js">' in page.content
        await client.get("/", headers=agent)
        before = (await client.get("/_consent/metrics")).text
        assert _sample(before, "consent_gateway_bot_requests_total", '{kind="search"}') is None

        with (rules_copy / "trackers.toml").open("a") as trackers:
            trackers.write(ZQ_TRACKER)
        bots = (rules_copy / "bots.toml").read_text()
        assert '"Googlebot", ' in bots
        (rules_copy / "bots.toml").write_text(
            bots.replace('"Googlebot", ', '"Googlebot", "ZqCrawler", ', 1)
        )
        gateway.reload_rules()

        page = await client.get("/")  # an opt-in visitor without a choice: marketing refused
        assert b'data-consent="marketing"' in page.content
        assert b'<script src="https://cdn.zq-tracker.example' not in page.content
        await client.get("/", headers=agent)
        after = (await client.get("/_consent/metrics")).text
    assert _sample(after, "consent_gateway_bot_requests_total", '{kind="search"}') == 1
    assert _sample(after, "consent_gateway_rules_reloads_total", '{result="ok"}') == 1
    assert (
        _sample(after, "consent_gateway_rules", '{kind="tracker"}')
        == (_sample(before, "consent_gateway_rules", '{kind="tracker"}') or 0) + 1
    )
    assert _sample(after, "consent_gateway_rules_stale") == 0


async def test_a_failed_reload_keeps_the_rules_and_says_so(
    tmp_path: Path, rules_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    middleware = ConsentMiddleware(_page_app(), _settings(tmp_path))
    gateway = middleware.gateway
    (rules_copy / "trackers.toml").write_text("[[vendor]]\nname = 'x'\n")
    assert not await gateway.rules.reload_async("a test")
    assert "rules not reloaded" in caplog.text and "trackers.toml" in caplog.text
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=middleware), base_url="http://shop.test"
    ) as client:
        metrics = (await client.get("/_consent/metrics")).text
        page = await client.get("/")
    assert page.status_code == 200
    assert _sample(metrics, "consent_gateway_rules_reloads_total", '{result="error"}') == 1
    assert _sample(metrics, "consent_gateway_rules_stale") == 1
    assert gateway.injector.trackers is not None
    assert gateway.injector.trackers.trackers  # type: ignore[attr-defined]


def _site_rules(path: Path, category: str) -> None:
    new = path.with_suffix(".new")  # then renamed over it: never seen half written
    new.write_text(
        "[[vendor]]\nname = 'Shop'\ncookies = [{ name = 'promo_id', category = "
        f"'{category}', purpose = 'Promotions shown.', retention = '30 days' }}]\n"
    )
    os.replace(new, path)


@pytest.mark.slow  # a real server, polled until the watcher has looked
def test_the_middleware_in_an_app_watches_its_rule_files(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    _site_rules(site, "essential")
    settings = _settings(tmp_path, rule_files=[str(site)], rules_reload_interval=0.05)
    with running(ConsentMiddleware(sets_cookies("promo_id"), settings)) as url:
        assert "promo_id" in httpx.get(url).headers.get("set-cookie", "")
        _site_rules(site, "marketing")  # an opt-in visitor without a choice refuses it
        deadline = time.monotonic() + 60
        while "promo_id" in httpx.get(url).headers.get("set-cookie", ""):
            assert time.monotonic() < deadline, "the changed file was not read"
            time.sleep(0.05)
        metrics = httpx.get(url + "/_consent/metrics").text
    assert _sample(metrics, "consent_gateway_rules_reloads_total", '{result="ok"}') == 1


def _geoip(path: Path, place: dict[str, Any]) -> None:
    """A City database placing 203.0.113.0/24 at ``place``, written whole over ``path``."""
    writer = MMDBWriter(ip_version=6, database_type="GeoIP2-City", ipv4_compatible=True)
    writer.insert_network(IPSet(["203.0.113.0/24"]), place)
    new = path.with_suffix(".new")
    writer.to_db_file(str(new))
    os.replace(new, path)  # as geoipupdate replaces it


async def test_a_replaced_geoip_database_is_opened_again(tmp_path: Path) -> None:
    database = tmp_path / "city.mmdb"
    _geoip(database, {"country": {"iso_code": "US"}, "subdivisions": [{"iso_code": "CA"}]})
    middleware = ConsentMiddleware(_page_app(), _settings(tmp_path, geoip_database=database))
    transport = httpx.ASGITransport(app=middleware, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
        assert (await client.get("/_consent/state")).json()["regime"] == "opt-out"  # California
        _geoip(database, {"country": {"iso_code": "DE"}})
        assert (await client.get("/_consent/state")).json()["regime"] == "opt-out"  # not yet
        assert await middleware.gateway.rules.reload_async("test")
        assert (await client.get("/_consent/state")).json()["regime"] == "opt-in"  # Germany


def test_the_access_log_takes_the_redaction_lists_of_a_reload(
    tmp_path: Path, rules_copy: Path
) -> None:
    settings = _settings(tmp_path, upstream=["http://127.0.0.1:9"])
    log = AccessLog.from_settings(settings)
    assert log is not None
    gateway = ConsentMiddleware(_page_app(), settings).gateway
    gateway.rules_listeners.append(log.use_rules)  # as `serve` wires them
    assert not log.redactor.rules.is_personal("zq_loyalty_card")
    analytics = (rules_copy / "analytics.toml").read_text()
    assert "names = [" in analytics
    (rules_copy / "analytics.toml").write_text(
        analytics.replace("names = [", 'names = ["zq_loyalty_card", ', 1)
    )
    gateway.reload_rules()
    assert log.redactor.rules.is_personal("zq_loyalty_card")
