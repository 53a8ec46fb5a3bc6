"""The demo site behind the gateway in a real browser: what reaches the cookie jar, and
what the banner lets run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page

from gateway import ConsentMiddleware, Settings
from gateway.demo.site import DEMO_SITE_RULES, create_demo_app
from tests.browser.site import OWN_TAGS, ThirdParties, demo_gateway, jar
from tests.support.apps import SECRET
from tests.support.servers import running


def test_the_no_script_forms_accept_and_reject_in_a_real_browser(
    tmp_path: Path, browser: Browser
) -> None:
    context = browser.new_context(java_script_enabled=False)  # the visitor the forms are for
    page = context.new_page()
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
    context.close()


def with_banner_tags(app: Any, holder: dict[str, ConsentMiddleware]) -> Any:
    """Between the gateway and the demo: puts ``Banner.snippet()``'s bytes right after
    ``<head>`` and ``<body>`` of each page, where the streaming injection will put them."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def keep(message: Any) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            headers = [(n, v) for n, v in started["headers"] if n != b"content-length"]
            if (dict(headers).get(b"content-type") or b"").startswith(b"text/html"):
                snippet = holder["gateway"].gateway.banner.snippet(scope["state"]["consent"], None)
                body = body.replace(b"<head>", b"<head>" + snippet.head, 1)
                body = body.replace(b"<body>", b"<body>" + snippet.body, 1)
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**started, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await app(scope, receive, keep)

    return wrapped


def test_the_demo_page_shows_what_the_banner_gates(
    tmp_path: Path, context: BrowserContext, page: Page
) -> None:
    ThirdParties(context)
    holder: dict[str, ConsentMiddleware] = {}
    settings = Settings.load(
        environ={},
        secret=SECRET,
        database_url=f"sqlite:///{tmp_path / 'consent.db'}",
        cookies=DEMO_SITE_RULES,
        **OWN_TAGS,
    )
    demo = create_demo_app()
    gateway = ConsentMiddleware(with_banner_tags(demo, holder), settings)
    holder["gateway"] = gateway
    outputs = ("#inline-analytics", "#external-analytics", "#marketing")
    with running(gateway) as url:
        page.goto(url + "/")
        banner = page.get_by_role("region", name="Cookies and your privacy")
        banner.get_by_role("button", name="Reject all").click()
        page.get_by_role("button", name="Privacy choices").wait_for()
        page.reload()
        page.get_by_role("button", name="Privacy choices").wait_for()
        assert [page.locator(o).text_content() for o in outputs] == ["blocked"] * 3
        player = page.frame_locator("iframe[title='YouTube video player']")
        player.get_by_role("button", name="Load once").wait_for()

        page.get_by_role("link", name="Cookie settings").click()  # data-consent-open
        page.get_by_role("dialog").get_by_role("button", name="Accept all").click()
        page.wait_for_function("document.getElementById('external-analytics').value === 'ran'")
        assert [page.locator(o).text_content() for o in outputs] == ["ran"] * 3
        player.locator("#player").wait_for()
        assert "_gcl_au" in jar(context)  # set by the demo's marketing script
        for _ in range(100):
            if demo.state.analytics_runs:
                break
            page.wait_for_timeout(20)
        assert demo.state.analytics_runs == 1
