"""Response-side enforcement: which ``Set-Cookie`` headers pass, and which cookies to expire.

Pure functions over header lists, so the middleware and the consent API share them and
tests need no server.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gateway.consent import Category, ConsentState
from gateway.cookies import expiry_headers, set_cookie_name
from gateway.metrics import UNKNOWN_CATEGORY, Metrics
from gateway.policy import ConsentPolicy

Header = tuple[bytes, bytes]
SET_COOKIE = b"set-cookie"
VARY = b"vary"
MAX_EXPIRED_NAMES = 16  # per response: up to 6 lines each must fit proxy header buffers


def filter_set_cookies(
    headers: Iterable[Sequence[bytes]],
    state: ConsentState,
    policy: ConsentPolicy,
    metrics: Metrics,
) -> tuple[list[Header], bool]:
    """The headers without refused ``Set-Cookie`` lines, and whether they differ by consent.

    A ``Set-Cookie`` a browser would ignore anyway (no parsable name) is dropped too: the
    gateway only lets through what it could classify.
    """
    kept: list[Header] = []
    varies = False
    for raw_name, value in headers:
        if raw_name != SET_COOKIE and (len(raw_name) != 10 or raw_name.lower() != SET_COOKIE):
            kept.append((raw_name, value))
            continue
        name = set_cookie_name(value.decode("latin-1"))
        category = policy.category_of(name, note_unknown=True) if name is not None else None
        if category is None or not state.allows(category):
            metrics.removed(category.value if category else UNKNOWN_CATEGORY, "response")
            varies = True
            continue
        if category is not Category.ESSENTIAL:
            varies = True
        kept.append((SET_COOKIE, value))
    return kept, varies


def expire_refused(
    names: Iterable[str],
    state: ConsentState,
    policy: ConsentPolicy,
    metrics: Metrics,
    *,
    host: str | None,
    path: str,
    secure: bool,
) -> list[Header]:
    """``Set-Cookie`` lines that delete the refused cookies the browser still sent."""
    expired: list[Header] = []
    count = 0
    for name in dict.fromkeys(names):
        category = policy.category_of(name)
        if category is not None and state.allows(category):
            continue
        count += 1
        if count > MAX_EXPIRED_NAMES:
            break
        metrics.removed(category.value if category else UNKNOWN_CATEGORY, "expired")
        expired.extend(
            (SET_COOKIE, line.encode("latin-1"))
            for line in expiry_headers(name, host, path, secure=secure)
        )
    return expired


def add_vary_cookie(headers: list[Header]) -> None:
    """Say that the response depends on the Cookie header, merging an existing Vary."""
    for index, (name, value) in enumerate(headers):
        if name.lower() == VARY:
            tokens = {token.strip().lower() for token in value.split(b",")}
            if b"cookie" not in tokens and b"*" not in tokens:
                headers[index] = (VARY, value + b", Cookie")
            return
    headers.append((VARY, b"Cookie"))
