"""consent-gateway: server-side enforcement of cookie consent."""

from gateway.consent.state import Category, ConsentState, Regime, Source
from gateway.middleware import ConsentMiddleware
from gateway.settings import Settings, SettingsError

__all__ = [
    "Category",
    "ConsentMiddleware",
    "ConsentState",
    "Regime",
    "Settings",
    "SettingsError",
    "Source",
]
