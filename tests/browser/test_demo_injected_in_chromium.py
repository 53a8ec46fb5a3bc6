"""The demo end to end in Chromium, through the gateway's own HTML injection and tracker
neutralisation."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import BrowserContext, Page

from tests.browser.site import TRACKER_HOST, ThirdParties, demo_gateway, jar
from tests.support.servers import running


def test_the_demo_through_the_injection_end_to_end(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    third = ThirdParties(context)
    with running(demo_gateway(tmp_path)) as url:
        page.goto(url + "/")
        banner = page.get_by_role("region", name="Cookies and your privacy")
        banner.get_by_role("button", name="Reject all").click()
        page.get_by_role("button", name="Privacy choices").wait_for()
        page.reload()
        page.get_by_role("button", name="Privacy choices").wait_for()
        assert TRACKER_HOST not in third.hosts()  # the pasted Google tag was neutralised
        assert page.locator("#marketing").text_content() == "blocked"
        assert not {"_ga", "_gcl_au", "_fbp"} & jar(context)

        page.get_by_role("link", name="Cookie settings").click()
        page.get_by_role("dialog").get_by_role("button", name="Accept all").click()
        page.wait_for_function("window.trackerRan === true")  # without a reload
        page.wait_for_function("document.getElementById('external-analytics').value === 'ran'")
        assert TRACKER_HOST in third.hosts()
        page.reload()
        assert {"_ga", "_fbp", "_gcl_au"} <= jar(context)
