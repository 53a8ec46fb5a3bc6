"""Counts of cookie names no rule classifies, batched in memory and written now and then.

Counting happens on the request path, so it is a dict increment; the store sees one write
per flush interval. The batch is bounded because visitors choose cookie names freely.
"""

from __future__ import annotations

import time

MAX_PENDING_NAMES = 1_000
MAX_NAME_LENGTH = 256
FLUSH_INTERVAL_SECONDS = 10.0


class UnknownCookieLog:
    """Pending counts of unclassified cookie names."""

    def __init__(self, flush_interval: float = FLUSH_INTERVAL_SECONDS) -> None:
        self._pending: dict[str, int] = {}
        self._flush_interval = flush_interval
        self._next_flush = time.monotonic() + flush_interval

    def note(self, name: str) -> None:
        name = name[:MAX_NAME_LENGTH]
        if name in self._pending:
            self._pending[name] += 1
        elif len(self._pending) < MAX_PENDING_NAMES:
            self._pending[name] = 1

    def due(self) -> bool:
        """True when there is something to write and the interval has passed."""
        return bool(self._pending) and time.monotonic() >= self._next_flush

    def take(self) -> dict[str, int]:
        """The pending counts, which are cleared."""
        batch, self._pending = self._pending, {}
        self._next_flush = time.monotonic() + self._flush_interval
        return batch
