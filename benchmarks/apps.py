"""The apps the load benchmarks serve: a bare Starlette JSON endpoint and the same app behind
ConsentMiddleware. Imported by uvicorn in a subprocess (``benchmarks.apps:bare`` / ``:gateway``).
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from urllib.parse import quote

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


# The same app, the visitor's choice read from vanilla-cookieconsent's cookie (consent_source).
gateway_cookieconsent = ConsentMiddleware(
    Starlette(routes=[Route("/", page)]),
    Settings.load(environ={}, **{**settings.model_dump(), "consent_source": ["cookieconsent"]}),
)

# The same app, the visitor's choice read from an IAB TC string (a registered TCF CMP's).
gateway_tcf = ConsentMiddleware(
    Starlette(routes=[Route("/", page)]),
    Settings.load(environ={}, **{**settings.model_dump(), "consent_source": ["tcf"]}),
)

# An "accept all" cc_cookie as vanilla-cookieconsent 3.1.0 writes it (captured in Chromium).
CC_COOKIE_ACCEPTED = quote(
    json.dumps(
        {
            "categories": ["necessary", "analytics", "ads"],
            "revision": 0,
            "data": None,
            "consentTimestamp": "2026-12-07T20:55:58.482Z",
            "consentId": "0669e6b7-c338-44bf-ad5a-782217c8e800",
            "services": {"necessary": [], "analytics": [], "ads": []},
            "languageCode": "en",
            "lastConsentTimestamp": "2026-12-07T20:55:58.482Z",
            "expirationTime": 1812401758483,
        },
        separators=(",", ":"),
    ),
    safe="",
)


def accepted_consent_cookie() -> str:
    """A valid 'accept all' consent cookie, as a returning visitor sends it."""
    codec = ConsentCookieCodec([SECRET], 86_400)
    return codec.encode(Decision(new_consent_id(), ALL_GRANTED, "1", datetime.now(UTC)))
