"""``Reloader``: a file that changed is read again once; a broken one is reported once and
the rules in place stay; SIGHUP reloads when asked for."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from gateway.metrics import Metrics
from gateway.reload import Reloader
from gateway.watch import FileWatch


class Counted:
    """Loaded rules: the file's text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def counts(self) -> Mapping[str, int]:
        return {"cookie": len(self.text)}

    def describe(self) -> str:
        return f"{len(self.text)} characters"


class Files:
    """One rules file, watched, counting the looks at it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.looks = 0
        self.applied: list[str] = []

    def paths(self) -> list[Path]:
        self.looks += 1
        return [self.path]

    def load(self) -> Counted:
        text = self.path.read_text()
        if "broken" in text:
            raise ValueError(f"{self.path}: broken")
        return Counted(text)

    def apply(self, rules: Counted) -> None:
        self.applied.append(rules.text)

    def write(self, text: str) -> None:
        new = self.path.with_suffix(".new")
        new.write_text(text)
        os.replace(new, self.path)


def _reloader(files: Files, metrics: Metrics, interval: float) -> Reloader[Counted]:
    return Reloader(FileWatch(files.paths), interval, files.load, files.apply, metrics)


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


def _sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_a_changed_file_is_loaded_once_and_a_broken_one_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = Files(tmp_path / "rules.toml")
    files.write("first")
    metrics = Metrics()
    reloader = _reloader(files, metrics, 0.01)
    reloader.start(hangup=False)
    try:
        files.write("second")
        await _until(lambda: files.applied == ["second"], "the change was not loaded")
        files.write("broken")
        await _until(lambda: "rules not reloaded" in caplog.text, "the failure was not logged")
        looks = files.looks
        await _until(lambda: files.looks > looks + 5, "the watcher stopped looking")
    finally:
        await reloader.aclose()
    assert files.applied == ["second"]  # the broken file never replaced it
    assert caplog.text.count("rules not reloaded") == 1  # not at every look
    assert "rules.toml: broken" in caplog.text
    assert _sample(metrics, "consent_gateway_rules_reloads_total", result="ok") == 1
    assert _sample(metrics, "consent_gateway_rules_reloads_total", result="error") == 1
    assert _sample(metrics, "consent_gateway_rules_stale") == 1
    assert _sample(metrics, "consent_gateway_rules", kind="cookie") == len("second")


def test_a_call_raises_for_a_broken_file_and_keeps_the_rules(tmp_path: Path) -> None:
    files = Files(tmp_path / "rules.toml")
    files.write("broken")
    metrics = Metrics()
    with pytest.raises(ValueError, match="broken"):
        _reloader(files, metrics, 0).reload("a call")
    assert files.applied == []
    assert _sample(metrics, "consent_gateway_rules_stale") == 1
    files.write("mended")
    _reloader(files, metrics, 0).reload("a call")
    assert files.applied == ["mended"]
    assert _sample(metrics, "consent_gateway_rules_stale") == 0


async def test_sighup_reloads_when_asked_for(tmp_path: Path) -> None:
    files = Files(tmp_path / "rules.toml")
    files.write("first")
    reloader = _reloader(files, Metrics(), 0)  # no watching: only the signal reloads
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as serve leaves it until the gateway starts
    try:
        reloader.start(hangup=True)
        try:
            os.kill(os.getpid(), signal.SIGHUP)
            await _until(lambda: files.applied == ["first"], "SIGHUP did not reload")
        finally:
            await reloader.aclose()
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN  # as it was before
    finally:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
