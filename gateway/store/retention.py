"""Consent records are kept ``record_retention_days`` and no longer: the running gateway
purges the older ones a minute after it starts (not during start-up, when the store may not
be wanted yet) and then every hour, in batches. Every replica and
worker may run this: the store's purge takes the chain's anchor first, so they take turns
and no record is purged twice or kept by mistake."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from gateway.store.handle import StoreHandle

PURGE_INTERVAL_SECONDS = 3600.0
FIRST_PURGE_SECONDS = 60.0
PURGE_BATCH = 1000  # records a transaction deletes: short, so decisions never wait long
logger = logging.getLogger("consent_gateway")


class Retention:
    """The background purge of records older than ``days``."""

    def __init__(
        self,
        store: StoreHandle,
        days: int,
        *,
        interval: float = PURGE_INTERVAL_SECONDS,
        first: float = FIRST_PURGE_SECONDS,
        batch: int = PURGE_BATCH,
        purged: Callable[[int], object] = lambda count: None,
        failed: Callable[[], object] = lambda: None,
    ) -> None:
        """``purged`` hears how many records each purge removed, ``failed`` of a purge that
        raised (the metrics, which live above the store)."""
        self.store = store
        self.days = days
        self.interval = interval
        self.first = first
        self.batch = batch
        self.on_purged, self.on_failed = purged, failed
        self.cycles = 0  # purges run (for tests and the curious)
        self.purged = 0  # records this process purged
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        """Start purging on the running event loop (once)."""
        if self._task is None:
            self._stop = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def purge(self) -> int:
        """Delete the records older than the limit now; how many."""
        older_than = datetime.now(UTC) - timedelta(days=self.days)
        count = await self.store.call(lambda store: store.purge_records(older_than, self.batch))
        self.purged += count
        self.on_purged(count)
        if count:
            logger.info("purged %d consent records older than %d days", count, self.days)
        return count

    async def aclose(self) -> None:
        if self._task is not None:
            self._stop.set()
            task, self._task = self._task, None
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        if await self._stopped_within(self.first):
            return
        while True:
            try:
                await self.purge()
            except Exception:
                logger.exception("could not purge old consent records; trying again later")
                self.on_failed()
            self.cycles += 1
            if await self._stopped_within(self.interval):
                return

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()
