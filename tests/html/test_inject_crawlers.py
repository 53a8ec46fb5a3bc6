"""Crawlers (rules/bots.toml kinds with `crawler = true`) get pages without the banner,
through a real uvicorn server and a real HTTP client; their trackers stay neutralised."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from gateway import ConsentMiddleware, Settings
from gateway.consent.agents import AgentClassifier
from tests.support.apps import SECRET
from tests.support.servers import running

GOOGLEBOT = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/131.0.6778.204 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html)"
)
SLACKBOT = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
PAGE = (
    "<!doctype html><html><head><meta charset=utf-8><title>Shop</title>"
    '<script async src="https://connect.facebook.net/en_US/fbevents.js"></script>'
    "</head><body><h1>Shop</h1></body></html>"
)


async def page(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


@pytest.mark.slow
def test_crawlers_get_no_banner_and_browsers_do(tmp_path: Path) -> None:
    settings = Settings.load(
        environ={},
        secret=SECRET,
        database_url=f"sqlite:///{tmp_path / 'consent.db'}",
        metrics=True,
    )
    site = ConsentMiddleware(Starlette(routes=[Route("/", page)]), settings)
    script = site.gateway.banner.url("banner.js")
    with running(site) as url:
        for agent in (GOOGLEBOT, SLACKBOT, GOOGLEBOT):
            response = httpx.get(url + "/", headers={"user-agent": agent})
            assert response.status_code == 200
            assert script not in response.text and "<noscript" not in response.text, agent
            assert "<h1>Shop</h1>" in response.text
            # Trackers stay inert: nobody consented for the crawler either.
            assert '<script type="text/plain" data-consent="marketing"' in response.text
        browser = httpx.get(url + "/", headers={"user-agent": CHROME})
        assert script in browser.text and "<noscript" in browser.text
        assert '<script type="text/plain" data-consent="marketing"' in browser.text
        metrics = httpx.get(url + "/_consent/metrics").text
    assert 'consent_gateway_pages_skipped_total{reason="bot"} 3.0' in metrics
    assert "consent_gateway_pages_injected_total 1.0" in metrics


@pytest.mark.parametrize(
    ("agent", "crawler"),
    [
        (GOOGLEBOT, True),
        (SLACKBOT, True),
        ("Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)", True),
        ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", True),
        ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", True),
        ("Mozilla/5.0 (compatible; ExampleCrawler/1.0; +https://example.com/bot)", True),
        (CHROME, False),
        ("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/131.0.0.0 Safari/537.36", False),
        ("curl/8.5.0", False),
        ("Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", False),
        ("", False),
    ],
)
def test_which_clients_are_crawlers(agent: str, crawler: bool) -> None:
    """Crawlers index or preview pages; monitors, headless browsers and scripts check or
    test the page a person sees, so they keep the banner."""
    agents = AgentClassifier.load()
    assert (agents.bot_kind(agent) in agents.crawlers) is crawler
