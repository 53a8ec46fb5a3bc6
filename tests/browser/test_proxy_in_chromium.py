"""Chromium through ``consent-gateway serve --upstream``: the banner's flow in front of nginx
serving a static site that sets a tracking cookie (the banner on nginx's gzip page, Reject
all, then Accept all, and what reaches the cookie jar each time), and the browser's own
WebSocket in front of npm's ``ws``."""

from __future__ import annotations

import json
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


def test_a_websocket_through_the_proxy_in_chromium(
    tmp_path: Path, ws_echo: str, context: BrowserContext, page: Page
) -> None:
    """Chromium's own WebSocket (compressed with permessage-deflate to the gateway) through
    ``serve --upstream`` to npm's ``ws``: the subprotocol, messages both ways, the refused
    cookie hidden on the handshake, and the close code of each side passed to the other."""
    with serve(tmp_path, ws_echo) as (url, _):
        host = url.removeprefix("http://")
        context.add_cookies(
            [
                {"name": name, "value": value, "url": url}
                for name, value in (("_ga", "GA1.1.5.6"), ("sessionid", "s1"))
            ]
        )
        page.goto(url + "/closes")  # the upstream's page, through the gateway: same origin
        script = """async (url) => {
            const ws = new WebSocket(url, ["chat.v2"]);
            const next = () => new Promise((resolve) => {
                ws.onmessage = (event) => resolve(event.data);
            });
            await new Promise((resolve) => { ws.onopen = resolve; });
            const seen = {protocol: ws.protocol, extensions: ws.extensions};
            ws.send("hello"); seen.echo = await next();
            ws.send("headers"); seen.headers = JSON.parse(await next());
            const closed = new Promise((resolve) => {
                ws.onclose = (event) => resolve([event.code, event.reason]);
            });
            ws.send("close 4001");
            seen.closed = await closed;
            const second = new WebSocket(url);
            await new Promise((resolve) => { second.onopen = resolve; });
            const done = new Promise((resolve) => { second.onclose = resolve; });
            second.close(4002, "from the browser");
            await done;
            return seen;
        }"""
        seen = page.evaluate(script, f"ws://{host}/chat")
        assert seen["protocol"] == "chat.v2"
        assert "permessage-deflate" in seen["extensions"]
        assert seen["echo"] == "hello"
        assert seen["headers"]["cookie"] == "sessionid=s1"
        assert seen["headers"]["origin"] == url
        assert seen["closed"] == [4001, "bye from upstream"]
        for _ in range(100):
            closes = json.loads(page.goto(url + "/closes").text())  # type: ignore[union-attr]
            if 4002 in closes:
                break
            page.wait_for_timeout(50)
        assert 4002 in closes
