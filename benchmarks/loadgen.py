"""An open-loop load generator: POSTs (or GETs) at a fixed rate, whatever the server does.

Each request's latency is measured from the moment it was *scheduled*, not sent, so a
server (or generator) that falls behind shows it in the percentiles instead of hiding it
(the "coordinated omission" that closed-loop tools like wrk have). Used by bench_collect.py,
bench_outage.py and bench_proxy.py; run alone:

    python benchmarks/loadgen.py URL --rate 3000 --seconds 10 --body '{"n": ...}'
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)  # seconds
    statuses: dict[int, int] = field(default_factory=dict)
    failures: int = 0
    sent: int = 0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def ok(self) -> int:
        return sum(count for status, count in self.statuses.items() if 200 <= status < 300)

    def summary(self) -> str:
        return (
            f"{self.sent} sent, {self.ok} 2xx, {self.failures} failed; latency p50 "
            f"{self.percentile(0.5) * 1000:.2f} ms, p99 {self.percentile(0.99) * 1000:.2f} ms, "
            f"max {max(self.latencies, default=0) * 1000:.2f} ms, mean "
            f"{statistics.fmean(self.latencies or [0]) * 1000:.2f} ms"
        )


async def run(
    url: str,
    body: Callable[[int], bytes],
    headers: dict[str, str],
    rate: float,
    seconds: float,
    connections: int = 32,
    method: str = "POST",
) -> Load:
    """POST ``body(i)`` to ``url`` ``rate`` times a second for ``seconds`` (or GET it, the
    body unused, with ``method="GET"``)."""
    load = Load()
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(index: int, scheduled: float) -> None:
            try:
                data = body(index) if method != "GET" else None
                async with session.request(method, url, data=data, headers=headers) as response:
                    await response.read()
                    load.statuses[response.status] = load.statuses.get(response.status, 0) + 1
            except (aiohttp.ClientError, OSError, TimeoutError):
                load.failures += 1
            load.latencies.append(loop.time() - scheduled)

        tasks: set[asyncio.Task[None]] = set()
        start = loop.time() + 0.05
        total = int(rate * seconds)
        index = 0
        while index < total:
            now = loop.time()
            while index < total and start + index / rate <= now:
                task = loop.create_task(one(index, start + index / rate))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                index += 1
            load.sent = index
            await asyncio.sleep(0.001)
        if tasks:
            await asyncio.wait(tasks, timeout=60)
    return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--body", default="{}")
    args = parser.parse_args()
    payload = args.body.encode()
    load = asyncio.run(run(args.url, lambda _: payload, {}, args.rate, args.seconds))
    print(load.summary())


if __name__ == "__main__":
    main()
