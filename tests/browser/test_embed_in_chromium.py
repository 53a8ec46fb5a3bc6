"""The embed snippet on a page not behind the gateway, and the banner failing safe.

The partner shop is served on www.shop.test and the gateway on gw.shop.test (Chromium maps
*.test to loopback): two origins of one site, the deployment the embed snippet is for. A
third host, www.other.test, is another site that is not in ``allowed_origins``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway import ConsentMiddleware, Settings
from tests.browser.site import OWN_TAGS, ThirdParties, banner_shown, shop
from tests.support.apps import SECRET, cookie_app
from tests.support.servers import running

PARTNER_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Partner shop</title>
<script src="{gateway}/_consent/consent-mode.js"></script>
<script src="{gateway}/_consent/banner.js"{defer}></script>
</head>
<body><main><h1>Partner shop</h1>
<p id="inline">inline analytics: blocked</p>
<script type="text/plain" data-consent="analytics">
 document.getElementById("inline").textContent = "inline analytics: ran";
</script>
</main></body>
</html>
"""

XHTML_PAGE = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" lang="en">
<head>{head}<title>XHTML shop</title></head>
<body><main><h1>XHTML shop</h1>
<p id="inline">inline analytics: blocked</p>
<script type="text/plain" data-consent="analytics">
 document.getElementById("inline").textContent = "inline analytics: ran";
</script>
</main></body>
</html>
"""


@dataclass
class Partner:
    shop: str  # http://www.shop.test:<port>
    other: str  # the same page on another site
    gateway_url: str  # http://gw.shop.test:<port>
    gateway: ConsentMiddleware


@contextmanager
def partner(tmp_path: Path) -> Iterator[Partner]:
    """The partner shop's page server, and a gateway that allows its origin only."""
    holder: dict[str, str] = {}

    async def page(request: Request) -> Response:
        # ?sync: the script in <head> without defer runs before <body> exists
        defer = "" if "sync" in request.query_params else " defer"
        return HTMLResponse(PARTNER_PAGE.format(gateway=holder["gateway"], defer=defer))

    with running(Starlette(routes=[Route("/", page)])) as page_url:
        port = page_url.rsplit(":", 1)[1]
        origin = f"http://www.shop.test:{port}"
        settings = Settings.load(
            environ={},
            secret=SECRET,
            database_url=f"sqlite:///{tmp_path / 'consent.db'}",
            allowed_origins=[origin],
            metrics=True,
        )
        gateway = ConsentMiddleware(cookie_app(), settings)
        with running(gateway) as gateway_url:
            holder["gateway"] = "http://gw.shop.test:" + gateway_url.rsplit(":", 1)[1]
            yield Partner(origin, f"http://www.other.test:{port}", holder["gateway"], gateway)


def errors_of(page: Page) -> list[str]:
    found: list[str] = []
    page.on("pageerror", lambda error: found.append(str(error)))
    return found


def inline(page: Page) -> str:
    return str(page.locator("#inline").text_content())


def test_the_embed_snippet_finds_its_gateway_and_remembers_the_choice(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    errors = errors_of(page)
    with partner(tmp_path) as site:
        page.goto(site.shop + "/")
        banner_shown(page)
        assert inline(page) == "inline analytics: blocked"
        assert page.evaluate("dataLayer[0][2].analytics_storage") == "denied"
        page.get_by_role("button", name="Accept all").click()
        page.wait_for_function("document.getElementById('inline').textContent.endsWith('ran')")
        consent = [c for c in context.cookies() if c["name"] == "cg_consent"]
        assert [c["domain"] for c in consent] == ["gw.shop.test"]  # the gateway's own cookie
        update = page.evaluate("Array.from(dataLayer[dataLayer.length - 1])")
        assert update[:2] == ["consent", "update"] and update[2]["ad_storage"] == "granted"

        page.reload()  # the state comes back from the gateway, with its cookie
        page.get_by_role("button", name="Privacy choices").wait_for()
        page.wait_for_function("document.getElementById('inline').textContent.endsWith('ran')")
        assert page.get_by_role("region", name="Cookies and your privacy").is_hidden()

        page.get_by_role("button", name="Privacy choices").click()
        with page.expect_navigation():  # analytics ran: withdrawing it reloads the page
            page.get_by_role("dialog").get_by_role("button", name="Reject all").click()
        page.get_by_role("button", name="Privacy choices").wait_for()
        assert inline(page) == "inline analytics: blocked"
    assert errors == []


def test_a_site_not_in_allowed_origins_gets_nothing_and_changes_nothing(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    errors = errors_of(page)
    with partner(tmp_path) as site:
        page.goto(site.other + "/")
        page.wait_for_load_state("networkidle")
        assert page.locator("#cg").count() == 0  # no state, so no banner
        assert page.evaluate("consentGateway.allows('analytics')") is False
        assert inline(page) == "inline analytics: blocked"
        refused = page.evaluate(
            """async (gateway) => {
                const url = gateway + "/_consent/state";
                let json = "sent";
                try {
                    await fetch(url, { method: "POST", credentials: "include",
                        headers: { "content-type": "application/json" },
                        body: JSON.stringify({ all: true }) });
                } catch (e) { json = "refused"; }
                // A form-style post needs no preflight; the gateway still sees its Origin.
                await fetch(url, { method: "POST", mode: "no-cors", credentials: "include",
                    headers: { "content-type": "application/x-www-form-urlencoded" },
                    body: "all=accept" });
                return json;
            }""",
            site.gateway_url,
        )
        assert refused == "refused"
        assert "cg_consent" not in {c["name"] for c in context.cookies()}
        decisions = [
            line
            for line in site.gateway.gateway.metrics.exposition().decode().splitlines()
            if line.startswith("consent_gateway_decisions_total{")
        ]
        assert decisions and all(line.endswith(" 0.0") for line in decisions)
    assert errors == []


def test_an_unreachable_consent_api_grants_nothing_and_throws_nothing(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    errors = errors_of(page)
    context.route("**/_consent/state", lambda route: route.abort())
    with partner(tmp_path) as site:
        page.goto(site.shop + "/")
        page.wait_for_load_state("networkidle")
        assert page.locator("#cg").count() == 0
        assert page.evaluate("consentGateway.get().categories") == {
            "essential": True,
            "preferences": False,
            "analytics": False,
            "marketing": False,
        }
        assert inline(page) == "inline analytics: blocked"
    assert errors == []


def test_a_browser_without_fetch_runs_nothing_gated(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    errors = errors_of(page)
    ThirdParties(context)
    context.add_init_script("delete window.fetch")
    with shop(tmp_path) as site:
        page.goto(site.url + "/")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("typeof window.consentGateway") == "undefined"
        assert page.locator("#inline").text_content() == "inline analytics: blocked"
    assert errors == []


def test_a_garbled_state_counts_as_no_choice(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    errors = errors_of(page)
    ThirdParties(context)

    def garble(route: Any) -> None:
        response = route.fetch()
        body = response.text().replace('data-state="{', 'data-state="{oops')
        route.fulfill(response=response, body=body)

    with shop(tmp_path, default_regime="opt-out") as site:
        page.route(site.url + "/", garble)
        page.goto(site.url + "/")
        banner_shown(page)  # opt-out would grant analytics: the unreadable state grants none
        assert page.evaluate("consentGateway.allows('analytics')") is False
        assert page.locator("#inline").text_content() == "inline analytics: blocked"
    assert errors == []


def test_a_choice_the_gateway_cannot_record_is_not_applied(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    ThirdParties(context)
    with shop(tmp_path) as site:

        class Down:
            def __getattr__(self, name: str) -> Any:
                raise RuntimeError("database down")

        site.gateway.gateway.store._store = Down()  # type: ignore[assignment]
        page.goto(site.url + "/")
        banner_shown(page)
        page.get_by_role("button", name="Accept all").click()
        alert = page.get_by_role("region", name="Cookies and your privacy").get_by_role("alert")
        alert.wait_for()
        assert alert.text_content() == "Your choice could not be saved. Please try again."
        assert page.evaluate("consentGateway.allows('analytics')") is False
        assert page.locator("#inline").text_content() == "inline analytics: blocked"


def test_a_page_carrying_the_banner_twice_gets_one(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    errors = errors_of(page)
    ThirdParties(context)
    with shop(tmp_path) as site:
        page.goto(site.url + "/?twice")
        banner_shown(page)
        assert page.locator("#cg").count() == 1
        page.get_by_role("button", name="Accept all").click()
        page.wait_for_function("window.analyticsRuns === 1")
        page.wait_for_timeout(200)
        assert page.evaluate("window.analyticsRuns") == 1  # each gated script ran once
    assert errors == []


def test_an_xhtml_page(tmp_path: Path, context: BrowserContext, page: Page) -> None:
    errors = errors_of(page)
    holder: dict[str, Any] = {}

    async def xhtml(request: Request) -> Response:
        gateway: ConsentMiddleware = holder["gateway"]
        snippet = gateway.gateway.banner.snippet(request.state.consent, None, xhtml=True)
        body = XHTML_PAGE.format(head=snippet.head.decode())
        return Response(body, media_type="application/xhtml+xml")

    settings = Settings.load(
        environ={}, secret=SECRET, database_url=f"sqlite:///{tmp_path / 'consent.db'}", **OWN_TAGS
    )
    gateway = ConsentMiddleware(Starlette(routes=[Route("/", xhtml)]), settings)
    holder["gateway"] = gateway
    with running(gateway) as url:
        page.goto(url + "/")
        banner_shown(page)
        page.get_by_role("button", name="Customize").click()
        page.get_by_role("dialog").get_by_role("button", name="Accept all").click()
        page.wait_for_function("document.getElementById('inline').textContent.endsWith('ran')")
    assert errors == []


def test_a_synchronous_embed_runs_before_the_body_exists(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    errors = errors_of(page)
    with partner(tmp_path) as site:
        page.goto(site.shop + "/?sync")
        banner_shown(page)
        assert page.evaluate("document.body.firstElementChild.id") == "cg"
        page.get_by_role("button", name="Accept all").click()
        page.wait_for_function("document.getElementById('inline').textContent.endsWith('ran')")
    assert errors == []
