"""``Reloader``: rules read again while the gateway runs, and put in place in one step.

Three things start a reload: a watched file that changed (``FileWatch`` polled every
``interval`` seconds), SIGHUP (when asked for: ``consent-gateway serve``), and a call. The
files are read and compiled in a thread; only putting the result in place runs on the event
loop. A load that fails is logged once and counted, ``consent_gateway_rules_stale`` shows 1,
and the rules in place stay. One reload runs at a time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Generic, Protocol, TypeVar

from gateway.metrics import Metrics
from gateway.watch import FileWatch, Poller, Signature

logger = logging.getLogger("consent_gateway")


class Loaded(Protocol):
    """What a load yields: how many rules of each kind, and those counts in words."""

    def counts(self) -> Mapping[str, int]: ...

    def describe(self) -> str: ...


Rules = TypeVar("Rules", bound=Loaded)


class Reloader(Generic[Rules]):
    """Reloads through ``load`` (any thread, no effect) and ``apply`` (the event loop's
    thread, puts the rules in place)."""

    def __init__(
        self,
        watch: FileWatch,
        interval: float,
        load: Callable[[], Rules],
        apply: Callable[[Rules], None],
        metrics: Metrics,
    ) -> None:
        self.watch = watch
        self._load = load
        self._apply = apply
        self._metrics = metrics
        self._poller = Poller(watch, interval, self._files_changed)
        self._running = asyncio.Lock()
        self._hangups: set[asyncio.Task[bool]] = set()
        self._on_hangup = False
        self._before_hangup: Callable[[int, FrameType | None], Any] | int = signal.SIG_DFL

    def reload(self, reason: str) -> None:
        """Load and apply in the calling thread; ``ValueError`` (logged and counted too) for
        a file that does not read, the rules in place kept."""
        seen = self.watch.look()
        started = time.perf_counter()
        try:
            rules = self._load()
        except ValueError as error:
            self._failed(reason, error)
            raise
        self.watch.seen = seen
        self._put_in_place(rules, reason, started)

    async def reload_async(self, reason: str) -> bool:
        """Load in a thread, then apply; never raises. Whether the new rules are in place."""
        async with self._running:
            seen = await asyncio.to_thread(self.watch.look)
            return await self._reload(reason, seen)

    def start(self, *, hangup: bool) -> None:
        """Watch the files (unless the interval is 0), and reload on SIGHUP with ``hangup``
        (in the main thread's event loop only: where signals arrive)."""
        self._poller.start()
        if hangup and threading.current_thread() is not threading.main_thread():
            logger.warning("rules: SIGHUP reloads only with the event loop in the main thread")
        elif hangup:
            before = signal.getsignal(signal.SIGHUP)  # None: not set from Python
            self._before_hangup = signal.SIG_DFL if before is None else before
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._hangup)
            self._on_hangup = True

    async def aclose(self) -> None:
        """Stop watching; SIGHUP handled as before ``start`` (``serve``: ignored, so that a
        SIGHUP while the worker drains does not end it)."""
        if self._on_hangup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            signal.signal(signal.SIGHUP, self._before_hangup)
            self._on_hangup = False
        await self._poller.aclose()

    def _hangup(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload_async("SIGHUP"))
        self._hangups.add(task)
        task.add_done_callback(self._hangups.discard)

    async def _files_changed(self, changed: Sequence[Path], seen: dict[Path, Signature]) -> None:
        names = ", ".join(path.name for path in changed)
        async with self._running:
            await self._reload(f"{names} changed", seen)

    async def _reload(self, reason: str, seen: dict[Path, Signature]) -> bool:
        started = time.perf_counter()
        try:
            rules = await asyncio.to_thread(self._load)
        except Exception as error:  # whatever a file holds, the gateway keeps serving
            self.watch.seen = seen  # a broken file is reported once, not at every look
            self._failed(reason, error)
            return False
        self.watch.seen = seen
        self._put_in_place(rules, reason, started)
        return True

    def _put_in_place(self, rules: Rules, reason: str, started: float) -> None:
        self._apply(rules)
        metrics = self._metrics
        metrics.rules_in_use(rules.counts())
        metrics.rules_reloads.labels("ok").inc()
        metrics.rules_stale.set(0)
        logger.info(
            "rules reloaded in process %d (%s) in %.0f ms: %s",
            os.getpid(),
            reason,
            (time.perf_counter() - started) * 1000,
            rules.describe(),
        )

    def _failed(self, reason: str, error: BaseException) -> None:
        self._metrics.rules_reloads.labels("error").inc()
        self._metrics.rules_stale.set(1)
        logger.error(
            "rules not reloaded in process %d (%s), the previous rules stay in use: %s",
            os.getpid(),
            reason,
            error,
        )
