"""``FileWatch`` and ``Poller``: a changed, new, vanished or replaced file is noticed."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from pathlib import Path

from gateway.watch import FileWatch, Poller, Signature, signature


def _touch_later(path: Path, seconds: int = 5) -> None:
    """Move the modification time on without changing the content (a same-size rewrite)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 1_000_000_000))


def test_nothing_changed_nothing_reported(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text("a = 1\n")
    watch = FileWatch(lambda: [tmp_path / "a.toml"])
    assert watch.changes()[0] == []


def test_a_rewrite_of_the_same_size_is_seen_by_its_time(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text("category = 'analytics'\n")
    watch = FileWatch(lambda: [path])
    path.write_text("category = 'marketing'\n")  # same size
    _touch_later(path)
    changed, now = watch.changes()
    assert changed == [path]
    watch.seen = now
    assert watch.changes()[0] == []  # reported once


def test_an_atomic_replace_is_seen_by_its_inode(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text("a = 1\n")
    watch = FileWatch(lambda: [path])
    new = tmp_path / "a.toml.new"
    new.write_text("a = 2\n")
    stat = path.stat()
    os.utime(new, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same time
    os.replace(new, path)
    assert watch.changes()[0] == [path]


def test_files_appearing_and_vanishing(tmp_path: Path) -> None:
    later, gone = tmp_path / "later.toml", tmp_path / "gone.toml"
    gone.write_text("x = 1\n")
    watch = FileWatch(lambda: [later, gone])
    assert watch.seen[later] is None
    later.write_text("x = 1\n")
    gone.unlink()
    assert sorted(watch.changes()[0]) == sorted([later, gone])


def test_a_directory_gaining_a_file_changes(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    watch = FileWatch(lambda: [rules, *sorted(rules.glob("*.toml"))])
    before = signature(rules)
    (rules / "new.toml").write_text("x = 1\n")
    if signature(rules) == before:  # within one tick of the file system's clock
        _touch_later(rules)
    changed = watch.changes()[0]
    assert rules in changed
    assert rules / "new.toml" in changed


async def test_the_poller_calls_back_with_the_changed_files_and_stops(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text("a = 1\n")
    calls: list[list[Path]] = []
    watch = FileWatch(lambda: [path])

    async def changed(paths: Sequence[Path], now: dict[Path, Signature]) -> None:
        calls.append(list(paths))
        watch.seen = now

    poller = Poller(watch, 0.01, changed)
    poller.start()
    (tmp_path / "a.new").write_text("a = 22\n")
    os.replace(tmp_path / "a.new", path)  # whole: never seen half written
    deadline = time.monotonic() + 30
    while not calls:
        assert time.monotonic() < deadline, "the change was not noticed"
        await asyncio.sleep(0.01)
    await poller.aclose()
    assert calls == [[path]]


async def test_an_interval_of_zero_never_looks(tmp_path: Path) -> None:
    looked: list[int] = []

    def paths() -> list[Path]:
        looked.append(1)
        return []

    async def changed(paths: Sequence[Path], now: dict[Path, Signature]) -> None:
        raise AssertionError("called")

    poller = Poller(FileWatch(paths), 0, changed)
    poller.start()
    await asyncio.sleep(0.05)
    await poller.aclose()
    assert looked == [1]  # the first look, at construction
