"""Counts of cookie names no rule classifies, batched in memory and written now and then.

Counting happens on the request path, so it is a dict increment; the store sees one write
per flush interval, which the owner schedules when ``on_pending`` says a batch has begun (so
requests without unknown cookies pay nothing). The batch is bounded because visitors choose
cookie names freely.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_PENDING_NAMES = 1_000
MAX_NAME_LENGTH = 256
FLUSH_INTERVAL_SECONDS = 10.0


class UnknownCookieLog:
    """Pending counts of unclassified cookie names."""

    def __init__(
        self,
        flush_interval: float = FLUSH_INTERVAL_SECONDS,
        on_pending: Callable[[], None] | None = None,
    ) -> None:
        self._pending: dict[str, int] = {}
        self.flush_interval = flush_interval
        self.on_pending = on_pending  # called when a new batch begins

    def note(self, name: str) -> None:
        name = name[:MAX_NAME_LENGTH]
        if name in self._pending:
            self._pending[name] += 1
        elif len(self._pending) < MAX_PENDING_NAMES:
            if not self._pending and self.on_pending is not None:
                self.on_pending()
            self._pending[name] = 1

    def take(self) -> dict[str, int]:
        """The pending counts, which are cleared."""
        batch, self._pending = self._pending, {}
        return batch
