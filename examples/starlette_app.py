"""A Starlette site behind ConsentMiddleware: run with `python examples/starlette_app.py`.

The page sets an analytics cookie; the gateway lets it through only after the visitor
accepts analytics (POST /_consent/state), and the page reads the choice from request.state.
"""

from __future__ import annotations

import os

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway import Category, ConsentMiddleware


async def home(request: Request) -> JSONResponse:
    consent = request.state.consent
    response = JSONResponse(
        {"analytics_allowed": consent.allows(Category.ANALYTICS), "regime": consent.regime}
    )
    response.set_cookie("_ga", "GA1.1.1234567890.1700000000", max_age=63_072_000)
    return response


app = Starlette(
    routes=[Route("/", home)],
    middleware=[
        Middleware(
            ConsentMiddleware,
            secret=os.environ.get("CONSENT_GATEWAY_SECRET", "example-only-secret-change-me"),
            database_url="sqlite:///example-consent.sqlite3",
        )
    ],
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=8001)
