"""Daily salts for the cookieless visitor hash, shared by every replica through the store.

A visitor without analytics consent is counted the way Plausible and PostHog's cookieless
mode count them: a keyed hash of (daily salt, truncated IP, User-Agent, site). The salt is
random, stored so that all replicas hash alike, and replaced every UTC day: the same person
gets another id tomorrow, and nobody, the site owner included, can recompute an old id once
the salt is gone. The previous day's salt is kept (a replica whose clock lags still finds
its day), anything older is deleted, so no salt lives longer than 48 hours.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

from gateway.store import Store

SALT_BYTES = 32


def _now() -> datetime:
    return datetime.now(UTC)


def utc_day(now: datetime) -> str:
    return now.astimezone(UTC).date().isoformat()


def visitor_hash(salt: bytes, site: str, ip: str | None, user_agent: str) -> bytes:
    """HMAC-SHA256 of the visitor's coarse traits under the day's salt."""
    message = "\x00".join((site, ip or "", user_agent)).encode("utf-8", "surrogatepass")
    return hmac.new(salt, message, hashlib.sha256).digest()


class DailySalts:
    """Today's salt, fetched from the store once per day and process."""

    def __init__(
        self,
        store: Callable[[Callable[[Store], bytes]], Awaitable[bytes]],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``store`` runs a store operation off the event loop (``OutboxStore.call``)."""
        clock = clock or _now
        self._store = store
        self._clock = clock
        self._day: str | None = None
        self._salt = b""
        self._valid_until = 0.0
        self._real_clock = clock is _now

    async def current(self) -> bytes:
        """Today's salt (the first call of a day asks the store, in a worker thread)."""
        now = time.time()
        if now < self._valid_until:
            return self._salt
        today = utc_day(self._clock())
        if today != self._day:
            keep_after = (date.fromisoformat(today) - timedelta(days=1)).isoformat()
            candidate = secrets.token_bytes(SALT_BYTES)
            self._salt = await self._store(
                lambda store: store.salt_for(today, candidate, keep_after)
            )
            self._day = today
        # Until the next UTC midnight (by the system clock; a test clock checks every call).
        self._valid_until = (now // 86_400 + 1) * 86_400 if self._real_clock else 0.0
        return self._salt
