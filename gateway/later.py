"""Writes a batch a while after it begins, off the request path, and whatever is left at close.

Counting on the request path is a dict increment (unknown cookie names, rules seen); the store
should see one write per batch. ``soon()`` is the hook a batch calls when its first item
arrives: it arms one timer, whose callback starts the write as a task. ``close()`` cancels
the timer, waits for writes under way and writes what is still pending.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class LaterWrite:
    """One kind of batch write, scheduled ``delay()`` seconds after a batch begins."""

    def __init__(
        self, write: Callable[[], Coroutine[Any, Any, None]], delay: Callable[[], float]
    ) -> None:
        self._write = write
        self._delay = delay  # read when a batch begins, so tests may shorten it
        self._timer: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Task[None]] = set()

    def soon(self) -> None:
        """A batch has begun: write it in a while (unless a write is already due)."""
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # outside a server: close() writes the batch
        self._timer = loop.call_later(self._delay(), self._start)

    def _start(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self._write())
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def close(self) -> None:
        """Write what is pending now, after the writes already under way."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        await self._write()
