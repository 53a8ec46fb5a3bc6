"""What a response's ``Set-Cookie`` lines do, by cookie name."""

from __future__ import annotations

import httpx


def set_cookie_names(response: httpx.Response) -> list[str]:
    """Cookies the response sets (not the ones it expires), in its order."""
    return [
        line.split("=", 1)[0]
        for line in response.headers.get_list("set-cookie")
        if "max-age=0" not in line.lower()
    ]


def expired_names(response: httpx.Response) -> set[str]:
    """Cookies the response expires."""
    return {
        line.split("=", 1)[0]
        for line in response.headers.get_list("set-cookie")
        if "max-age=0" in line.lower()
    }
