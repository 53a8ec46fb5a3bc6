"""The consent store as the async request path uses it: opened lazily, called off-loop.

Opening may connect to PostgreSQL, which must not happen at import time or on the event
loop; every store call runs in a worker thread so a slow disk or database never stalls
other requests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread

from gateway.store import Store, check_url, open_store

T = TypeVar("T")


class StoreHandle:
    """A store opened on first use and called from worker threads; a URL this installation
    cannot open is refused at once (``store.check_url``)."""

    def __init__(self, url: str, store: Store | None = None) -> None:
        if store is None:
            check_url(url)
        self._url = url
        self._store = store
        self._lock = threading.Lock()

    def get(self) -> Store:
        """The store, opened now if needed (blocking: call from a worker thread)."""
        with self._lock:
            if self._store is None:
                self._store = open_store(self._url)
            return self._store

    async def call(self, operation: Callable[[Store], T]) -> T:
        """Run ``operation(store)`` in a worker thread."""
        return await anyio.to_thread.run_sync(lambda: operation(self.get()))

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
