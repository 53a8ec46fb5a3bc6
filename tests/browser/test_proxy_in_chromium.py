"""The banner's flow in Chromium through ``consent-gateway serve --upstream`` in front of
nginx serving a static site that sets a tracking cookie: the banner on nginx's gzip page,
Reject all, then Accept all, and what reaches the cookie jar each time."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import BrowserContext, Page

from tests.browser.site import banner_shown, jar
from tests.support.upstreams import serve


def test_reject_all_then_accept_all_on_a_site_behind_the_proxy(
    tmp_path: Path, nginx: str, context: BrowserContext, page: Page
) -> None:
    with serve(tmp_path, nginx) as (url, _):
        page.goto(url + "/")
        page.get_by_role("heading", name="A static site").wait_for()
        banner_shown(page)
        assert jar(context) == {"sessionid"}  # nginx's _ga waits for consent

        banner = page.get_by_role("region", name="Cookies and your privacy")
        banner.get_by_role("button", name="Reject all").click()
        choices = page.get_by_role("button", name="Privacy choices")
        choices.wait_for()
        page.reload()
        choices.wait_for()  # the choice is kept: no banner on the next page
        assert not banner.is_visible()
        assert jar(context) == {"sessionid", "cg_consent"}

        choices.click()
        page.get_by_role("dialog").get_by_role("button", name="Accept all").click()
        choices.wait_for()
        page.reload()
        assert jar(context) == {"sessionid", "cg_consent", "_ga"}
        assert next(c for c in context.cookies() if c["name"] == "_ga")["value"] == "GA1.1.987.654"
