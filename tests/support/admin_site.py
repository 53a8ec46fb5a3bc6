"""A small site behind the gateway with the admin page on, served by a real uvicorn: HTML
pages (which get the banner) that set an unknown cookie, for the admin page's tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from gateway import ConsentMiddleware, Settings
from tests.support.apps import SECRET
from tests.support.servers import running

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
OTHER_TOKEN = "another-admin-token-abcdefghijkl"
UNKNOWN = "promo_ref"  # no rule knows it
PAGE = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>Shop</title></head>"
    "<body><h1>Shop</h1><p>Welcome.</p></body></html>"
)


async def _page(request: Request) -> HTMLResponse:
    response = HTMLResponse(PAGE)
    response.set_cookie("sessionid", "s3ss10n", httponly=True)
    response.set_cookie(UNKNOWN, "spring-sale")
    return response


def site_app() -> Starlette:
    return Starlette(routes=[Route("/", _page), Route("/other", _page)])


@dataclass
class AdminSite:
    url: str
    gateway: ConsentMiddleware
    rules_file: Path

    @property
    def admin(self) -> str:
        return self.url + "/_consent/admin"


@contextmanager
def admin_site(tmp_path: Path, **options: Any) -> Iterator[AdminSite]:
    """The site on a free loopback port; ``options`` are settings (``admin_token`` is set
    unless given). Visitors' countries come from ``X-Country`` (a test header)."""
    values: dict[str, Any] = {
        "secret": SECRET,
        "database_url": f"sqlite:///{tmp_path / 'consent.db'}",
        "admin_token": [ADMIN_TOKEN, OTHER_TOKEN],
        "country_header": "X-Country",
        **options,
    }
    settings = Settings.load(environ={}, **values)
    gateway = ConsentMiddleware(site_app(), settings)
    with running(gateway, proxy_headers=False) as url:
        rules = gateway.gateway.admin.rules_file if gateway.gateway.admin else tmp_path / "none"
        yield AdminSite(url, gateway, rules)
