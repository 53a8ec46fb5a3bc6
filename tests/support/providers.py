"""Settings that point every analytics provider at one stand-in (``tests.support.standin``),
and what a browser sends them."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.standin import StandIn

SENTRY_KEY = "0123456789abcdef0123456789abcdef"
# Fast retries so that outage tests take seconds, not minutes.
FAST = {
    "retry_base_seconds": 0.05,
    "retry_max_seconds": 0.5,
    "breaker_cooldown_seconds": 0.2,
    "forward_timeout_seconds": 2,
}
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.85 Safari/537.36"
)


def provider_settings(upstream: str) -> dict[str, dict[str, Any]]:
    """Every provider pointed at one stand-in (their paths do not overlap)."""
    host = upstream.removeprefix("http://")
    return {
        "ga4": {"upstream": upstream, "api_secret": "server-side-secret"},
        "matomo": {"upstream": upstream + "/matomo.php", "token_auth": "server-side-token"},
        "plausible": {"upstream": upstream},
        "umami": {"upstream": upstream},
        "posthog": {"upstream": upstream},
        "sentry": {"dsn": f"http://{SENTRY_KEY}@{host}/42"},
    }


def sentry_dsn(stand_in: StandIn) -> str:
    return provider_settings(stand_in.url)["sentry"]["dsn"]


def consent(client: httpx.Client, **categories: bool) -> None:
    """Record a choice like the banner does: ``all=True``, ``all=False`` or categories."""
    body: dict[str, Any] = (
        {"all": categories["all"]} if "all" in categories else {"categories": categories}
    )
    response = client.post("/_consent/state", json=body, headers={"origin": str(client.base_url)})
    assert response.status_code == 200, response.text
