"""Counts of cookie names no rule classifies, batched in memory and written now and then.

Counting happens on the request path, so it is a few dict operations; the store sees one
write per flush interval, which the owner schedules when ``on_pending`` says a batch has
begun (so requests without unknown cookies pay nothing). Visitors choose cookie names freely,
so the batch is bounded, and by the space-saving algorithm (Metwally, Agrawal and El Abbadi,
2005) rather than first come: when it is full, the name with the smallest count makes way
for the new one, which inherits that count plus one and records it as its possible
overcount. A name sent by many visitors keeps its place however many names are sent once.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_PENDING_NAMES = 1_000
MAX_NAME_LENGTH = 256
FLUSH_INTERVAL_SECONDS = 10.0


class UnknownCookieLog:
    """Pending counts of unclassified cookie names (space-saving, ``capacity`` names)."""

    def __init__(
        self,
        flush_interval: float = FLUSH_INTERVAL_SECONDS,
        on_pending: Callable[[], None] | None = None,
        capacity: int = MAX_PENDING_NAMES,
    ) -> None:
        self.flush_interval = flush_interval
        self.on_pending = on_pending  # called when a new batch begins
        self.capacity = capacity
        self._clear()

    def _clear(self) -> None:
        self._counts: dict[str, int] = {}
        self._errors: dict[str, int] = {}  # only names that took another's place
        # count -> the names with that count, oldest first: the smallest is found at once
        self._by_count: dict[int, dict[str, None]] = {}
        self._smallest = 0

    def note(self, name: str) -> None:
        name = name[:MAX_NAME_LENGTH]
        count = self._counts.get(name)
        if count is not None:
            self._file(name, count + 1)
            self._unfile(name, count)
        elif len(self._counts) < self.capacity:
            if not self._counts and self.on_pending is not None:
                self.on_pending()
            self._file(name, 1)
            self._smallest = 1
        else:  # the oldest of the names with the smallest count makes way
            smallest = self._smallest
            evicted = next(iter(self._by_count[smallest]))
            del self._counts[evicted]
            self._errors.pop(evicted, None)
            self._errors[name] = smallest
            self._file(name, smallest + 1)
            self._unfile(evicted, smallest)

    def _file(self, name: str, count: int) -> None:
        self._counts[name] = count
        self._by_count.setdefault(count, {})[name] = None

    def _unfile(self, name: str, count: int) -> None:
        """Take ``name`` out of those with ``count``. Counts grow by one and ``count + 1``
        was just filed, so when none is left at the smallest count, that is the next."""
        names = self._by_count[count]
        del names[name]
        if not names:
            del self._by_count[count]
            if count == self._smallest:
                self._smallest = count + 1

    def take(self) -> tuple[dict[str, int], dict[str, int]]:
        """The pending counts and, for names that took another's place, how much of their
        count may be the other names'; both are cleared."""
        batch = self._counts, self._errors
        self._clear()
        return batch
