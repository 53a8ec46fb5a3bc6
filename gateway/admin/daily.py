"""Per-day sums every worker adds to: banner impressions to visitors who have not chosen
(the "no choice" of the opt-in chart) and pages sent without the banner, by reason.

Counting on the request path is a dict increment (``DailyCounts.shown``); a task writes
the batch every ``flush_seconds`` in one transaction, off the request path, as the unknown
cookie counts are written. Pages without the banner are already counted by the Prometheus
counter ``consent_gateway_pages_skipped``; the writer adds what it grew by since the last
batch, so the request path counts them once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from datetime import UTC, datetime

from gateway.metrics import Metrics
from gateway.store.handle import StoreHandle

SHOWN = "shown"  # label: "<regime>/<country or -->/<policy version>"
SKIPPED = "skipped"  # label: the reason
FLUSH_SECONDS = 30.0
UNKNOWN_COUNTRY = "--"
logger = logging.getLogger("consent_gateway")


def shown_label(regime: str, country: str | None, policy_version: str) -> str:
    return f"{regime}/{country or UNKNOWN_COUNTRY}/{policy_version}"


def split_label(label: str) -> tuple[str, str, str]:
    """``(regime, country, policy version)`` of a ``shown`` label."""
    regime, _, rest = label.partition("/")
    country, _, version = rest.partition("/")
    return regime, country, version


class DailyCounts:
    """This worker's counts since the last batch, and the task that writes them."""

    def __init__(self, store: StoreHandle, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics
        self.flush_seconds = FLUSH_SECONDS
        self._pending: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._skipped_before: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def shown(self, regime: str, country: str | None, policy_version: str) -> None:
        """A page went out with the banner to a visitor who has not chosen."""
        self._pending[(SHOWN, shown_label(regime, country, policy_version))] += 1

    def start(self) -> None:
        if self._task is None:
            self._stop = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        """Stop the task and write what is left."""
        if self._task is not None:
            self._stop.set()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.flush_seconds)
            if not self._stop.is_set():
                await self.flush()

    def take(self) -> dict[tuple[str, str], int]:
        """The batch: the impressions counted and what the skip counter grew by."""
        pending, self._pending = self._pending, defaultdict(int)
        batch = dict(pending)
        self.metrics.tally.flush()  # the counts added on the request path, handed over
        for family in self.metrics.pages_skipped.collect():
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                reason = sample.labels["reason"]
                grown = sample.value - self._skipped_before.get(reason, 0.0)
                self._skipped_before[reason] = sample.value
                if grown >= 1:
                    batch[(SKIPPED, reason)] = int(grown)
        return batch

    async def flush(self) -> None:
        batch = self.take()
        if not batch:
            return
        day = datetime.now(UTC).date().isoformat()
        try:
            await self.store.call(lambda store: store.add_daily_counts(day, batch))
        except Exception:
            logger.exception("could not write the daily counts")
            self.metrics.store_errors.labels("add_daily_counts").inc()
            for key, count in batch.items():  # kept for the next batch
                self._pending[key] += count
