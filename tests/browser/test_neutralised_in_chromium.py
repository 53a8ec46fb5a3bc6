"""The tracker neutralisation's rewrite, activated by the banner in Chromium.

Until the streaming HTML injection runs both for every page, this page applies
``TrackerRules`` to its raw tags itself, as the injection will: the tags a site pastes
arrive inert for a visitor who has not granted their category, the banner brings them to
life once granted, and a visitor who granted it gets them as pasted.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway import ConsentMiddleware
from gateway.html.rewriter import Tag
from gateway.html.trackers import TrackerRules
from tests.browser.site import PIXEL_HOST, PLAYER_HOST, TRACKER_HOST, ThirdParties, shop_settings
from tests.support.servers import running

RAW_TAGS = [
    f'<script async src="https://{TRACKER_HOST}/gtag/js?id=G-DEMO12345"></script>',
    "<script>window.dataLayer = window.dataLayer || []; function gtag() "
    "{ dataLayer.push(arguments); } gtag('js', new Date()); gtag('config', 'G-DEMO12345');"
    " window.inlineTagRan = true;</script>",
    f'<iframe src="https://{PLAYER_HOST}/embed/M7lc1UVf-VE" width="560" height="315"'
    ' title="YouTube video player"></iframe>',
    f'<img src="https://{PIXEL_HOST}/collect/?pid=1&amp;fmt=gif" width="1" height="1" alt="">',
]


class _StartTag(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tag: Tag | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.tag is None:
            raw = (self.get_starttag_text() or "").encode()
            self.tag = Tag(tag, attrs, raw)


def neutralised(raw: str, rules: TrackerRules, granted: Any) -> str:
    """``raw`` with its start tag rewritten as the injection would."""
    parser = _StartTag()
    parser.feed(raw)
    tag = parser.tag
    assert tag is not None
    start, rest = raw[: len(tag.raw)], raw[len(tag.raw) :]
    replaced = rules.start_tag(tag, granted)
    if replaced is None and tag.name == "script" and rest != "</script>":
        text = rest.removesuffix("</script>").encode()
        replaced = rules.inline_script(tag, text, granted)
    return (replaced.decode() if replaced else start) + rest


def test_neutralised_trackers_stay_inert_until_granted_then_run_without_a_reload(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    third = ThirdParties(context)
    rules = TrackerRules.load()
    holder: dict[str, ConsentMiddleware] = {}

    async def page_with_trackers(request: Request) -> Response:
        state = request.state.consent
        snippet = holder["gateway"].gateway.banner.snippet(state, None)
        tags = "\n".join(neutralised(raw, rules, state.granted) for raw in RAW_TAGS)
        return HTMLResponse(
            f"<!doctype html><html lang=en><head>{snippet.head.decode()}"
            f"<title>Trackers</title></head><body>{snippet.body.decode()}"
            f"<main><h1>Trackers</h1>{tags}</main></body></html>"
        )

    gateway = ConsentMiddleware(
        Starlette(routes=[Route("/", page_with_trackers)]), shop_settings(tmp_path)
    )
    holder["gateway"] = gateway
    tracker_hosts = {TRACKER_HOST, PLAYER_HOST, PIXEL_HOST}
    with running(gateway) as url:
        page.goto(url + "/")
        page.get_by_role("region", name="Cookies and your privacy").wait_for()
        # The Google tag of a GA4 id (G-) and its config snippet wait for analytics.
        assert page.locator('script[type="text/plain"][data-consent="analytics"]').count() == 2
        page.get_by_role("button", name="Reject all").click()
        page.get_by_role("button", name="Privacy choices").wait_for()
        page.reload()
        page.get_by_role("button", name="Privacy choices").wait_for()
        assert not third.hosts() & tracker_hosts
        assert page.evaluate("[window.trackerRan, window.inlineTagRan]") == [None, None]

        page.evaluate("window.samePage = true")
        page.get_by_role("button", name="Privacy choices").click()
        page.get_by_role("dialog").get_by_role("button", name="Accept all").click()
        page.wait_for_function("window.trackerRan === true && window.inlineTagRan === true")
        page.frame_locator("iframe").locator("#player").wait_for()
        page.wait_for_function("document.querySelector('main img').naturalWidth === 1")
        assert page.evaluate("window.samePage") is True
        assert third.hosts() >= tracker_hosts

        page.reload()  # granted: the tags arrive as the site pasted them
        page.wait_for_function("window.trackerRan === true && window.inlineTagRan === true")
        assert page.locator("[data-consent]").count() == 0
