"""The demo site behind the gateway in a real browser: what reaches the cookie jar."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import BrowserContext, Page

from gateway import ConsentMiddleware, Settings
from gateway.demo import DEMO_SITE_RULES, create_demo_app
from tests.conftest import SECRET, running


def demo_gateway(tmp_path: Path) -> ConsentMiddleware:
    settings = Settings.load(
        environ={},
        secret=SECRET,
        database_url=f"sqlite:///{tmp_path / 'consent.db'}",
        cookies=DEMO_SITE_RULES,
    )
    return ConsentMiddleware(create_demo_app(), settings)


def jar(context: BrowserContext) -> set[str]:
    return {cookie["name"] for cookie in context.cookies()}


def test_the_no_script_forms_accept_and_reject_in_a_real_browser(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    with running(demo_gateway(tmp_path)) as url:
        page.goto(url + "/")
        assert jar(context) == {"sessionid"}
        forms = page.get_by_role("main")  # the banner has buttons of the same names
        forms.get_by_role("button", name="Accept all").click()
        page.wait_for_url(url + "/")
        page.reload()
        assert {"sessionid", "cg_consent", "demo_theme", "_ga", "_fbp"} <= jar(context)
        forms.get_by_role("button", name="Reject all").click()
        page.wait_for_url(url + "/")
        assert jar(context) == {"sessionid", "cg_consent"}
