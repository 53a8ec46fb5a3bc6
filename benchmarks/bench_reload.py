"""What reading the rules again costs a running gateway, and what watching them costs.

(a) Loading the whole rule set (``Gateway.load_rules``: cookie, tracker, bot, region and
    analytics rules compiled), which a reload does in a thread.
(b) Putting a loaded set in place (``Gateway.apply_rules``), on the event loop.
(c) One look of the watcher at every rules file (``FileWatch.changes``: a ``stat`` each),
    which runs in a thread every ``rules_reload_interval`` seconds, never on the request path.
(d) The event loop's lateness while ``reload_async`` runs: a task that asks to wake every
    millisecond notes how late it woke, which is what a request waiting then would feel (the
    load holds the GIL in turns with the loop); the same ticker without a reload is the
    baseline.

    .venv/bin/python benchmarks/bench_reload.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.app import Gateway
from gateway.settings import Settings


def timed(call: Callable[[], object], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def show(what: str, times: list[float], unit: float = 1e3, name: str = "ms") -> None:
    print(
        f"{what}: median {statistics.median(times) * unit:.3f} {name}, "
        f"min {min(times) * unit:.3f}, max {max(times) * unit:.3f} ({len(times)} rounds)"
    )


async def lateness(gateway: Gateway | None, seconds: float) -> list[float]:
    """How late a 1 ms sleep wakes, for ``seconds``, with reloads running back to back."""
    late: list[float] = []
    stop = time.perf_counter() + seconds

    async def reloads() -> None:
        while gateway is not None and time.perf_counter() < stop:
            await gateway.rules.reload_async("benchmark")

    task = asyncio.create_task(reloads())
    while time.perf_counter() < stop:
        started = time.perf_counter()
        await asyncio.sleep(0.001)
        late.append(time.perf_counter() - started - 0.001)
    await task
    return late


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings.load(
            environ={},
            secret="benchmark-secret-0123456789",
            database_url=f"sqlite:///{scratch}/b.db",
        )
        gateway = Gateway(settings)
        rules = gateway.load_rules()
        print(rules.describe(), f"from {len(gateway.rules.watch.look())} watched paths")
        show("(a) load the rule set", timed(gateway.load_rules, args.rounds))
        show("(b) put it in place", timed(lambda: gateway.apply_rules(rules), args.rounds))
        show("(c) one look at the files", timed(gateway.rules.watch.changes, 2000), 1e6, "µs")
        quiet = asyncio.run(lateness(None, 2.0))
        busy = asyncio.run(lateness(gateway, 2.0))
        for what, late in (("no reload", quiet), ("reloading back to back", busy)):
            ordered = sorted(late)
            p99 = ordered[int(len(ordered) * 0.99)]
            print(
                f"(d) event loop lateness, {what}: median {statistics.median(late) * 1e3:.3f} ms, "
                f"p99 {p99 * 1e3:.3f} ms, max {max(late) * 1e3:.3f} ms"
            )


if __name__ == "__main__":
    main()
