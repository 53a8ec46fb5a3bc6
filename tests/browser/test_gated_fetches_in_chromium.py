"""Every way a page fetches from a tracker, through the gateway's own rewrite, in Chromium.

The stand-ins of ``ThirdParties`` answer for the tracker hosts and record every request the
browser makes: before consent none reaches them, after the grant the banner activates the
gated tags without a reload and the requests go out. Google tags by their ids: a visitor who
allows analytics only gets the GA4 tag (and a container the operator mapped to analytics),
never the ads tag.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Frame, Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway import ConsentMiddleware, Settings
from tests.browser.site import PIXEL_HOST, PLAYER_HOST, TRACKER_HOST, ThirdParties, banner_shown
from tests.support.apps import SECRET
from tests.support.servers import running

TRACKER_HOSTS = {TRACKER_HOST, PIXEL_HOST, PLAYER_HOST}

FETCHING_TAGS = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Players</title>
<link rel="preload" as="script" href="https://{TRACKER_HOST}/gtm.js?id=GTM-PRELOAD">
<link rel="modulepreload" href="https://{TRACKER_HOST}/gtag/js?id=DC-1234567">
</head><body><main><h1>Players</h1>
<script async src="https://{TRACKER_HOST}/gtm.js?id=GTM-PRELOAD"></script>
<img srcset="https://{PIXEL_HOST}/collect?pid=srcset-only 1x" width="1" height="1" alt="">
<img src="/logo.gif" srcset="https://{PIXEL_HOST}/collect?pid=srcset-beside 1x" width="1"
 height="1" alt="">
<object data="https://{PLAYER_HOST}/embed/object" type="text/html" width="300" height="150">
</object>
<embed src="https://{PLAYER_HOST}/embed/embed" type="text/html" width="300" height="150">
</main></body></html>"""

UNDER_A_BASE = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<base href="https://{TRACKER_HOST}/"><title>Base</title>
<script async src="gtm.js?id=GTM-BASE1"></script>
</head><body><h1>Relative</h1></body></html>"""

GOOGLE_TAGS = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Google tags</title>
<script async src="https://{TRACKER_HOST}/gtag/js?id=G-STATS1"></script>
<script>window.dataLayer = window.dataLayer || [];
function gtag() {{ dataLayer.push(arguments); }}
gtag('js', new Date()); gtag('config', 'G-STATS1');</script>
<script async src="https://{TRACKER_HOST}/gtag/js?id=AW-123456789"></script>
<script>gtag('config', 'AW-123456789');</script>
<script async src="https://{TRACKER_HOST}/gtm.js?id=GTM-STATS1"></script>
<script async src="https://{TRACKER_HOST}/gtm.js?id=GTM-ADS999"></script>
</head><body><main><h1>Google tags</h1></main></body></html>"""


def site(tmp_path: Path, html: str, **options: Any) -> ConsentMiddleware:
    """A one-page app behind the gateway, which inserts the banner and rewrites trackers."""

    async def page(request: Request) -> Response:
        return HTMLResponse(html)

    settings = Settings.load(
        environ={},
        secret=SECRET,
        database_url=f"sqlite:///{tmp_path / 'consent.db'}",
        **options,
    )
    return ConsentMiddleware(Starlette(routes=[Route("/", page)]), settings)


def tracker_requests(third: ThirdParties) -> list[str]:
    return [url for url in third.requests if url.split("/")[2] in TRACKER_HOSTS]


def wait_until(page: Page, condition: Callable[[], bool]) -> None:
    """Let the browser run (its request events arrive meanwhile) until ``condition``."""
    for _ in range(200):
        if condition():
            return
        page.wait_for_timeout(25)
    raise AssertionError("the condition never held")


def frame_of(page: Page, suffix: str) -> Frame:
    """The frame whose address ends with ``suffix``, once it is there."""
    wait_until(page, lambda: any(frame.url.endswith(suffix) for frame in page.frames))
    return next(frame for frame in page.frames if frame.url.endswith(suffix))


def requested(third: ThirdParties, *parts: str) -> Callable[[], bool]:
    return lambda: all(any(part in url for url in third.requests) for part in parts)


def test_no_tracker_fetch_before_consent_and_every_one_after_the_grant(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    """Preloads, srcset pixels (alone and beside a src), objects and embeds."""
    third = ThirdParties(context)
    with running(site(tmp_path, FETCHING_TAGS)) as url:
        page.goto(url + "/")
        banner_shown(page)
        page.wait_for_load_state("load")
        assert tracker_requests(third) == []

        page.evaluate("window.samePage = true")
        page.get_by_role("button", name="Accept all").click()
        wait_until(
            page,
            requested(
                third,
                "/gtm.js?id=GTM-PRELOAD",
                "pid=srcset-only",
                "pid=srcset-beside",
                "/embed/object",
                "/embed/embed",
            ),
        )
        for player in ("/embed/object", "/embed/embed"):  # they render, not only fetch
            frame_of(page, player).locator("#player").wait_for()
        assert page.evaluate("window.samePage") is True
        # A preload is a hint: once granted, the script fetches itself, so it stays inert.
        assert not any("DC-1234567" in request for request in third.requests)


def test_a_relative_url_under_a_base_on_a_tracker_host_waits_for_consent(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    """Without the banner (its own relative URLs would point at that host too): the grant is
    posted to the consent API, and the next page load gets the script as written."""
    third = ThirdParties(context)
    with running(site(tmp_path, UNDER_A_BASE, inject_banner=False)) as url:
        page.goto(url + "/")
        page.wait_for_load_state("load")
        assert page.locator('script[type="text/plain"][data-consent="marketing"]').count() == 1
        assert tracker_requests(third) == []

        granted = page.request.post(
            url + "/_consent/state", data={"all": True}, headers={"origin": url}
        )
        assert granted.ok
        page.reload()
        wait_until(page, requested(third, f"https://{TRACKER_HOST}/gtm.js?id=GTM-BASE1"))


def test_an_analytics_only_visitor_gets_the_ga4_tag_and_not_the_ads_tag(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    third = ThirdParties(context)
    gateway = site(
        tmp_path, GOOGLE_TAGS, consent_mode=True, gtm_containers={"GTM-STATS1": "analytics"}
    )
    with running(gateway) as url:
        page.goto(url + "/")
        banner_shown(page)
        page.wait_for_load_state("load")
        assert tracker_requests(third) == []

        page.get_by_role("button", name="Customize").click()
        dialog = page.get_by_role("dialog", name="Privacy preferences")
        dialog.get_by_role("switch", name="Analytics").check()
        dialog.get_by_role("button", name="Save choices").click()
        wait_until(page, requested(third, "gtag/js?id=G-STATS1", "gtm.js?id=GTM-STATS1"))
        # The banner activates in page order, so what it would have fetched is asked for by now.
        page.wait_for_function("dataLayer.some((a) => a[0] === 'config' && a[1] === 'G-STATS1')")
        for refused in ("AW-123456789", "GTM-ADS999"):
            assert not any(refused in request for request in third.requests), refused
        layer = page.evaluate("dataLayer.map((a) => Array.from(a))")
        assert ["config", "AW-123456789"] not in layer
        updates = [i for i, entry in enumerate(layer) if entry[:2] == ["consent", "update"]]
        update = layer[updates[-1]][2]
        assert update["analytics_storage"] == "granted"
        for kind in ("ad_storage", "ad_user_data", "ad_personalization"):
            assert update[kind] == "denied", kind
        # The tag reads the update before its config runs.
        assert updates[-1] < layer.index(["config", "G-STATS1"])
