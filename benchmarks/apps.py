"""The apps the load benchmarks serve: a bare Starlette JSON endpoint and the same app behind
ConsentMiddleware. Imported by uvicorn in a subprocess (``benchmarks.apps:bare`` / ``:gateway``).
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway import ConsentMiddleware, Settings
from gateway.consent.codec import ConsentCookieCodec
from gateway.consent.state import ALL_GRANTED, Decision, new_consent_id

SECRET = "benchmark-secret-0123456789"


async def page(request: Request) -> JSONResponse:
    """Refreshes the visitor's session cookie (a new one per visitor) and sets ``_ga``."""
    response = JSONResponse({"ok": True, "items": [1, 2, 3], "user": "anonymous"})
    session = request.cookies.get("sessionid", "0123456789abcdef")
    response.set_cookie("sessionid", session, httponly=True)
    response.set_cookie("_ga", "GA1.1.1234567890.1700000000", max_age=63_072_000)
    return response


bare = Starlette(routes=[Route("/", page)])

settings = Settings.load(
    environ={},
    secret=SECRET,
    database_url=f"sqlite:///{os.path.join(tempfile.gettempdir(), 'bench-consent.sqlite3')}",
)
gateway = ConsentMiddleware(Starlette(routes=[Route("/", page)]), settings)


def accepted_consent_cookie() -> str:
    """A valid 'accept all' consent cookie, as a returning visitor sends it."""
    codec = ConsentCookieCodec([SECRET], 86_400)
    return codec.encode(Decision(new_consent_id(), ALL_GRANTED, "1", datetime.now(UTC)))
