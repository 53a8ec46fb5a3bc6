"""Small apps behind the gateway in tests, and the ASGI client that calls them in-process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from gateway import ConsentMiddleware

SECRET = "test-secret-0123456789abcdef"
ORIGIN_HEADERS = {"origin": "http://testserver"}

# What the ``make_gateway`` fixture returns: a ConsentMiddleware around an app, with settings.
Gateway = Callable[..., ConsentMiddleware]


def client_for(app: Any) -> httpx.AsyncClient:
    """An HTTP client that calls ``app`` in-process, without a server."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def _cookie_page(request: Request) -> JSONResponse:
    """Sets one cookie of each category and reports the cookies it received."""
    response = JSONResponse({"received": sorted(request.cookies)})
    response.set_cookie("sessionid", "s3ss10n", httponly=True)
    response.set_cookie("_ga", "GA1.1.123.456", max_age=63072000)
    response.set_cookie("_fbp", "fb.1.123.456", max_age=7776000)
    return response


def cookie_app() -> Starlette:
    return Starlette(routes=[Route("/", _cookie_page)])


async def _echo_cookies(request: Request) -> JSONResponse:
    return JSONResponse({"cookie": request.headers.get("cookie"), "names": list(request.cookies)})


def echo_app() -> Starlette:
    """Answers with the Cookie header the app received and the names in it."""
    return Starlette(routes=[Route("/", _echo_cookies)])


def sets_cookies(*names: str) -> Starlette:
    """Sets each of ``names`` on every response."""

    async def page(request: Request) -> PlainTextResponse:
        response = PlainTextResponse("ok")
        for name in names:
            response.set_cookie(name, "1")
        return response

    return Starlette(routes=[Route("/", page)])
