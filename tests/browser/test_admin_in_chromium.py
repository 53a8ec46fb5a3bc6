"""The admin page in real Chromium: visitors choose in the real banner, then an operator
signs in, reads the charts, classifies the unknown cookie with one click (and the next
response follows it), and axe finds no WCAG 2.2 AA violation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page

from tests.browser.site import banner_shown, jar
from tests.support.admin_site import ADMIN_TOKEN, UNKNOWN, AdminSite, admin_site
from tests.support.js import node_module

WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21aa", "wcag22aa"]


def violations(page: Page) -> list[dict[str, Any]]:
    """Every axe violation of the WCAG 2.2 A and AA rules, whatever its impact."""
    page.add_script_tag(path=str(node_module("axe-core/axe.min.js")))
    return list(
        page.evaluate(
            """async (tags) => {
                const result = await axe.run(document, {
                    runOnly: { type: "tag", values: tags }, resultTypes: ["violations"],
                });
                return result.violations.map((v) => ({
                    id: v.id, nodes: v.nodes.map((n) => n.target.join(" ")),
                }));
            }""",
            WCAG_22_AA,
        )
    )


def visit_and_choose(browser: Browser, site: AdminSite, country: str, button: str | None) -> Any:
    """A visitor from ``country`` opens the shop and answers the banner with ``button``
    (None: leaves it unanswered); their browser context, still open."""
    context = browser.new_context(extra_http_headers={"X-Country": country})
    page = context.new_page()
    page.goto(site.url + "/")
    banner_shown(page)
    if button is not None:
        with page.expect_response(lambda r: r.url.endswith("/_consent/state")):
            page.get_by_role("region", name="Cookies and your privacy").get_by_role(
                "button", name=button
            ).click()
    return context


def test_the_page_keeps_to_its_policy_without_unsafe_inline(tmp_path: Path, page: Page) -> None:
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text))
    with admin_site(tmp_path) as site:
        page.goto(site.admin)
        page.get_by_label("Admin token").fill(ADMIN_TOKEN)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="How visitors choose").wait_for()
        # The stylesheet applied (the page's only style source), and nothing was refused.
        border = page.evaluate(
            "getComputedStyle(document.querySelector('header')).borderBottomStyle"
        )
        assert border == "solid"
    assert [p for p in problems if "Content Security Policy" in p] == []


def test_an_operator_reads_the_charts_and_classifies_a_cookie(
    browser: Browser, tmp_path: Path, output_dir: Path
) -> None:
    # axe is injected as a script, which the page's own policy refuses: bypassed here only.
    operator = browser.new_context(bypass_csp=True, viewport={"width": 1200, "height": 900})
    page = operator.new_page()
    with admin_site(tmp_path) as site:
        refuser = visit_and_choose(browser, site, "DE", "Reject all")
        for country, button in (("DE", "Accept all"), ("FR", "Accept all"), ("FR", None)):
            visit_and_choose(browser, site, country, button).close()
        assert UNKNOWN in jar(refuser)  # unknown: treated as essential so far

        response = page.goto(site.admin)
        assert response is not None and response.status == 401
        page.get_by_label("Admin token").fill(ADMIN_TOKEN[:-1] + "x")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("alert").wait_for()
        assert "not right" in page.get_by_role("alert").inner_text()
        assert violations(page) == []

        page.get_by_label("Admin token").fill(ADMIN_TOKEN)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="How visitors choose").wait_for()
        session = next(c for c in page.context.cookies() if c["name"] == "cg_admin")
        assert session["httpOnly"] and session["sameSite"] == "Strict"

        by_day = page.get_by_role("img", name="Choices by day")
        assert by_day.locator("rect").count() >= 2  # accept all and reject all, stacked
        assert page.locator("#by-country rect").count() >= 3
        assert page.locator("#by-country rect.s-no_choice").count() == 1  # FR's visit
        for summary in page.locator("summary").all():
            summary.click()
        assert violations(page) == []
        page.screenshot(path=output_dir / "admin.png", full_page=True)

        row = page.get_by_role("row").filter(has=page.locator(f"code:text-is('{UNKNOWN}')"))
        row.get_by_label(f"Category of {UNKNOWN}").select_option("marketing")
        row.get_by_role("button", name="Classify").click()
        page.get_by_role("status").wait_for()
        assert f"Classified {UNKNOWN} as marketing" in page.get_by_role("status").inner_text()
        assert violations(page) == []

        refusing_page = refuser.new_page()
        refusing_page.goto(site.url + "/")
        assert UNKNOWN not in jar(refuser)  # expired: marketing was refused
        refuser.close()

        page.get_by_role("button", name="Sign out").click()
        page.get_by_label("Admin token").wait_for()
        assert "cg_admin" not in jar(page.context)
    operator.close()
