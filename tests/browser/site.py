"""A small shop behind the gateway for the browser tests, and stand-ins for third parties.

Until the gateway inserts the banner into pages itself (the streaming HTML injection), each
page carries ``Banner.snippet()``'s bytes: the head part right after ``<head>``, the body
part right after ``<body>``, exactly where the injection puts them. The gated elements are
the forms a site author writes and the gateway's tracker neutralisation produces. The
public hosts a page names (Google Tag Manager, YouTube, LinkedIn) are unreachable here, so
``ThirdParties`` answers for them through Playwright's routing and records every request.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page, Route
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route as Path_

from gateway import ConsentMiddleware, Settings
from gateway.demo.site import DEMO_SITE_RULES, create_demo_app
from tests.support.apps import SECRET
from tests.support.servers import running

TRACKER_HOST = "www.googletagmanager.com"
VIDEO_HOST = "www.youtube-nocookie.com"
PLAYER_HOST = "www.youtube.com"
PIXEL_HOST = "px.ads.linkedin.com"

PAGE = """<!doctype html>
<html lang="{lang}" dir="{dir}">
<head>{head}<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Test shop</title>
<link rel="stylesheet" href="/site.css">{extra}
</head>
<body>{body}
<header><nav aria-label="Site"><a href="/">Home</a> <a href="/about">About</a>
 <a href="#" data-consent-open>Cookie settings</a></nav></header>
<main>
<h1>Test shop</h1>
<p id="inline">inline analytics: blocked</p>
<script type="text/plain" data-consent="analytics"{nonce}>
 document.getElementById("inline").textContent = "inline analytics: ran";
 document.cookie = "_pk_id.1.1fff=abc; path=/; max-age=3600";
</script>
<script type="text/plain" data-consent="analytics" src="/analytics.js"{nonce}></script>
<script type="text/plain" data-consent="marketing"{nonce}>
 document.cookie = "_gcl_au=1.1.1.1; path=/; max-age=3600";
 window.marketingRan = true;
</script>
<script type="text/plain" data-consent="analytics" async
 src="https://{tracker}/gtag/js?id=G-TEST"{nonce}></script>
<iframe data-consent="marketing" data-src="https://{video}/embed/test" width="560" height="315"
 title="Product video"></iframe>
<img data-consent="marketing" data-src="https://{pixel}/collect?pid=1" width="1" height="1"
 alt="">
<p class="tall">The rest of the page.</p>
<p><a href="/about" id="last-link">A link at the end of the page</a></p>
</main>
</body>
</html>
"""
SITE_CSS = "body { font: 16px/1.5 sans-serif; margin: 0 auto; max-width: 50rem; padding: 1rem; }"
SITE_CSS += " .tall { min-height: 150vh; } iframe { max-width: 100%; }"
ANALYTICS_JS = """
window.analyticsRuns = (window.analyticsRuns || 0) + 1;
fetch("/collect", { method: "POST" });
"""


@dataclass
class Shop:
    """The running shop: its address, its gateway and what its analytics endpoint saw."""

    url: str
    gateway: ConsentMiddleware
    hits: list[str] = field(default_factory=list)


def shop_app(holder: dict[str, Any]) -> Starlette:
    """The shop's pages; ``holder["gateway"]`` is the gateway in front (for the snippet)."""

    async def page(request: Request) -> Response:
        gateway: ConsentMiddleware = holder["gateway"]
        nonce = request.query_params.get("nonce")
        snippet = gateway.gateway.banner.snippet(request.state.consent, nonce)
        lang = request.query_params.get("lang", "en")
        body = PAGE.format(
            lang=html.escape(lang),
            dir="rtl" if lang == "ar" else "ltr",
            head=snippet.head.decode(),
            body=snippet.body.decode(),
            nonce=f' nonce="{html.escape(nonce)}"' if nonce else "",
            # ?twice: the page also carries the embed snippet, as a site moving to the
            # gateway might for a while
            extra='<script src="/_consent/banner.js" defer></script>'
            if "twice" in request.query_params
            else "",
            tracker=TRACKER_HOST,
            video=VIDEO_HOST,
            pixel=PIXEL_HOST,
        )
        response = HTMLResponse(body)
        if nonce:
            response.headers["content-security-policy"] = (
                f"script-src 'nonce-{nonce}'; style-src 'self'; object-src 'none'"
            )
        if "sessionid" not in request.cookies:
            response.set_cookie("sessionid", "s3ss10n", httponly=True)
        response.set_cookie("_ga", "GA1.1.1.1", max_age=3600)  # the server sets one too
        return response

    async def analytics(request: Request) -> Response:
        return Response(ANALYTICS_JS, media_type="text/javascript")

    async def collect(request: Request) -> JSONResponse:
        holder["hits"].append(request.headers.get("referer", ""))
        return JSONResponse({"ok": True})

    async def css(request: Request) -> Response:
        return Response(SITE_CSS, media_type="text/css")

    return Starlette(
        routes=[
            Path_("/", page),
            Path_("/about", page),
            Path_("/analytics.js", analytics),
            Path_("/collect", collect, methods=["POST"]),
            Path_("/site.css", css),
        ]
    )


# These pages carry the banner's tags themselves; once the gateway inserts them into pages
# (the html branch's `inject_banner`), it must not insert a second copy.
OWN_TAGS: dict[str, Any] = (
    {"inject_banner": False} if "inject_banner" in Settings.model_fields else {}
)


def shop_settings(tmp_path: Path, **options: Any) -> Settings:
    return Settings.load(
        environ={},
        secret=SECRET,
        database_url=f"sqlite:///{tmp_path / 'consent.db'}",
        privacy_policy_url="/privacy",
        **{**OWN_TAGS, **options},
    )


@contextmanager
def shop(tmp_path: Path, **options: Any) -> Iterator[Shop]:
    """The shop behind a gateway with ``options`` as settings, served by uvicorn."""
    holder: dict[str, Any] = {"hits": []}
    gateway = ConsentMiddleware(shop_app(holder), shop_settings(tmp_path, **options))
    holder["gateway"] = gateway
    with running(gateway) as url:
        yield Shop(url, gateway, holder["hits"])


class ThirdParties:
    """Answers for the public hosts a page names, and records every request the browser
    makes, so a test can say that a host was never contacted."""

    SCRIPT = """
    window.trackerRan = true;
    document.cookie = "_ga=GA1.1.42.42; path=/; max-age=3600";
    """

    def __init__(self, context: BrowserContext) -> None:
        self.requests: list[str] = []
        context.on("request", lambda request: self.requests.append(request.url))
        context.route(f"https://{TRACKER_HOST}/**", self._script)
        context.route(f"https://{VIDEO_HOST}/**", self._video)
        context.route(f"https://{PLAYER_HOST}/**", self._video)
        context.route(f"https://{PIXEL_HOST}/**", self._pixel)

    def hosts(self) -> set[str]:
        return {url.split("/")[2] for url in self.requests if "://" in url}

    def _script(self, route: Route) -> None:
        route.fulfill(status=200, content_type="text/javascript", body=self.SCRIPT)

    def _video(self, route: Route) -> None:
        route.fulfill(
            status=200,
            content_type="text/html",
            body="<!doctype html><title>player</title><p id=player>the video player</p>",
        )

    def _pixel(self, route: Route) -> None:
        gif = bytes.fromhex("47494638396101000100800000ffffff00000021f90401000000002c")
        gif += bytes.fromhex("00000000010001000002024401003b")
        route.fulfill(status=200, content_type="image/gif", body=gif)


def jar(context: BrowserContext) -> set[str]:
    return {cookie["name"] for cookie in context.cookies()}


def banner_shown(page: Page) -> None:
    """Wait until the first layer is on screen."""
    page.get_by_role("region", name="Cookies and your privacy").wait_for(state="visible")


def demo_gateway(tmp_path: Path) -> ConsentMiddleware:
    settings = Settings.load(
        environ={},
        secret=SECRET,
        database_url=f"sqlite:///{tmp_path / 'consent.db'}",
        cookies=DEMO_SITE_RULES,
    )
    return ConsentMiddleware(create_demo_app(), settings)
