"""The visitor's records from the banner, in real Chromium: the preferences dialog shows the
consent id of the visitor's cookie and links to their records, each choice is recorded with
the layer and page it came from, and axe finds nothing serious with the id shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page

from tests.browser.site import ThirdParties, banner_shown, shop
from tests.support.js import node_module


def dialog(page: Page) -> Any:
    return page.get_by_role("dialog", name="Privacy preferences")


def consent_cookie(context: BrowserContext) -> str:
    values = [c.get("value", "") for c in context.cookies() if "consent" in c.get("name", "")]
    assert len(values) == 1, values
    return values[0]


def serious_violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(node_module("axe-core/axe.min.js")))
    return list(
        page.evaluate(
            """async () => (await axe.run(document, { resultTypes: ["violations"] })).violations
                .filter((v) => v.impact === "serious" || v.impact === "critical")
                .map((v) => v.id)"""
        )
    )


def test_the_dialog_shows_the_consent_id_of_the_cookie_and_links_to_the_records(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    ThirdParties(context)
    with shop(tmp_path) as site:
        page.goto(site.url + "/about")
        banner_shown(page)
        page.get_by_role("button", name="Customize").click()
        assert dialog(page).locator(".cg-rec").is_hidden()  # no choice, no id yet
        dialog(page).get_by_role("button", name="Accept all").click()
        reopen = page.get_by_role("button", name="Privacy choices")
        reopen.wait_for()
        consent_id = consent_cookie(context).split(".")[0]
        assert len(consent_id) == 22

        reopen.click()
        shown = dialog(page).locator(".cg-rec code")
        shown.wait_for()
        assert shown.text_content() == consent_id
        assert dialog(page).locator(".cg-rec").is_visible()
        assert serious_violations(page) == []
        link = dialog(page).get_by_role("link", name="Your consent records (JSON)")
        href = link.get_attribute("href")
        assert href == site.url + "/_consent/records"
        dialog(page).get_by_role("switch", name="Marketing").uncheck()
        # Marketing scripts ran on this page: withdrawing marketing reloads it (banner.js).
        with page.expect_navigation():
            dialog(page).get_by_role("button", name="Save choices").click()
        reopen.wait_for()

        page.goto(href)
        body = json.loads(page.locator("body").inner_text())
        assert body["consent_id"] == consent_id
        assert [(r["method"], r["layer"], r["path"], r["language"]) for r in body["records"]] == [
            ("accept_all", "preferences", "/about", "en"),
            ("custom", "preferences", "/about", "en"),
        ]
        banner = site.gateway.gateway.banner
        assert {r["banner_hash"] for r in body["records"]} == {banner.shown_hash("en")}
