"""Notices changed files by polling their ``stat``: inode, size and modification time.

A file is "changed" when any of the three differs from the last look, when it appears or
when it goes away. Polling every few seconds costs a handful of ``stat`` calls off the request
path (in a thread), needs no inotify and no dependency, and sees an editor's in-place write
as well as an atomic rename (a new inode). A directory's entry counts too: its modification
time changes when a file is added to it or removed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path

Signature = tuple[int, int, int] | None  # (inode, size, mtime in ns); None: no such file
logger = logging.getLogger("consent_gateway")


def signature(path: Path) -> Signature:
    """What a change of ``path`` changes; ``None`` when it cannot be read (missing)."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


class FileWatch:
    """The files ``paths()`` names, compared with the last look."""

    def __init__(self, paths: Callable[[], Iterable[Path]]) -> None:
        self._paths = paths  # asked at every look: a directory may gain files
        self.seen: dict[Path, Signature] = self.look()

    def look(self) -> dict[Path, Signature]:
        """Every file's signature now."""
        return {path: signature(path) for path in self._paths()}

    def changes(self) -> tuple[list[Path], dict[Path, Signature]]:
        """The files that differ from ``seen``, and the look they were found in (which the
        caller makes ``seen`` once it acted on it)."""
        now = self.look()
        seen = self.seen
        changed = [path for path, found in now.items() if seen.get(path, ()) != found]
        changed += [path for path in seen if path not in now]
        return changed, now


class Poller:
    """Calls ``on_change(paths)`` when ``watch`` finds files changed, looking every
    ``interval`` seconds in a thread; ``on_change`` decides whether to mark the look as seen.
    One look at a time; a failing look is logged and tried again at the next interval."""

    def __init__(
        self,
        watch: FileWatch,
        interval: float,
        on_change: Callable[[Sequence[Path], dict[Path, Signature]], Awaitable[None]],
    ) -> None:
        self.watch = watch
        self.interval = interval
        self._on_change = on_change
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and self.interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                changed, now = await asyncio.to_thread(self.watch.changes)
                if changed:
                    await self._on_change(changed, now)
            except Exception:  # a bug here must not end the watching
                logger.exception("rules: watching the rule files failed")
