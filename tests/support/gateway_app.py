"""A gateway for subprocess uvicorn in the fault tests: settings from the environment
(``CONSENT_GATEWAY_*``), in front of the small cookie app."""

from __future__ import annotations

from gateway import ConsentMiddleware, Settings
from tests.support.apps import cookie_app

app = ConsentMiddleware(cookie_app(), Settings.load())
