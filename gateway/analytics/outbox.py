"""Group commit of analytics hits: durable before the client's 2xx, without a commit per hit.

A request hands its hits to ``OutboxWriter.add`` and waits. The writer commits everything
that arrived while the previous commit ran in one transaction (in a worker thread), then
wakes every waiting request at once. An idle gateway commits a lone hit immediately, so
the wait is never longer than one commit plus the commit before it; under load a commit
carries hundreds of hits, which is how SQLite reaches thousands of durable hits a second
with one fsync per commit. If the commit fails, every request of that group gets the
error (and answers 503): a 2xx always means "committed".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from gateway.store import OutboxHit, Store
from gateway.store.handle import StoreHandle

T = TypeVar("T")

logger = logging.getLogger("consent_gateway")
MAX_GROUP = 5_000  # hits per commit; more wait for the next one


class OutboxStore:
    """The store as the analytics code calls it: from one thread of its own.

    The store's operations are short and serialised by the store anyway (one connection
    behind a lock), so one thread is enough, and a plain executor thread hands work over
    several times faster than a general-purpose thread pool when the event loop is busy
    (about 0.2 ms instead of 1.2 ms per call under bench_collect.py's load), which is what
    bounds the group commit's latency.
    """

    def __init__(self, handle: StoreHandle) -> None:
        self.handle = handle
        self._executor: ThreadPoolExecutor | None = None

    async def call(self, operation: Callable[[Store], T]) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="consent-gateway-outbox")
        handle = self.handle
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, lambda: operation(handle.get())
        )

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


class OutboxWriter:
    """Commits hits in groups; ``add`` returns once the caller's hits are committed."""

    def __init__(
        self,
        store: OutboxStore,
        on_commit: Callable[[Iterable[str]], None] | None = None,
    ) -> None:
        self._store = store
        self._on_commit = on_commit
        self._pending: list[tuple[Sequence[OutboxHit], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def add(self, hits: Sequence[OutboxHit]) -> None:
        """Commit ``hits``; raises what the store raised when the commit failed."""
        if not hits:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((hits, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._commit_all())
        # A client that goes away cancels this wait, not the commit of the group: the
        # writer task owns the commit and skips futures that are done.
        await future

    async def _commit_all(self) -> None:
        while self._pending:
            requests = self._take()
            group = [hit for hits, _ in requests for hit in hits]
            try:
                # Awaited within the iteration, so the closure sees this group.
                await self._store.call(lambda store: store.outbox_add(group))  # noqa: B023
            except Exception as error:
                logger.exception("could not commit %d analytics hits", len(group))
                for _, waiter in requests:
                    if not waiter.done():
                        waiter.set_exception(error)
                continue
            for _, waiter in requests:
                if not waiter.done():
                    waiter.set_result(None)
            if self._on_commit is not None:
                self._on_commit({hit.provider for hit in group})

    def _take(self) -> list[tuple[Sequence[OutboxHit], asyncio.Future[None]]]:
        """The next group: whole requests, up to MAX_GROUP hits (at least one request)."""
        taken = 0
        count = 0
        for hits, _ in self._pending:
            if count and taken + len(hits) > MAX_GROUP:
                break
            taken += len(hits)
            count += 1
        requests, self._pending = self._pending[:count], self._pending[count:]
        return requests

    async def flush(self) -> None:
        """Wait for the commits in progress (at shutdown)."""
        if self._task is not None and not self._task.done():
            await asyncio.gather(self._task, return_exceptions=True)
