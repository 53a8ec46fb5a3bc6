"""WebSocket messages through ``consent-gateway serve --upstream`` against nginx
``proxy_pass`` (with ``Upgrade``) and against the upstream directly, in one run: a WebSocket
echo server written with npm's ``ws`` behind each.

Scenarios: ``echo`` (32 connections, each sending a 64-byte text message and waiting for its
echo, again and again: round trips per second) and ``bulk`` (one connection echoing 1 MiB
binary messages: MiB per second each way). The load comes from this process (Python,
websockets on uvloop) on core 0, the proxies and the upstream run on core 1 (``taskset``),
so the direct figure is bounded by the client as much as by the server. Needs nginx and the
test's npm packages (``npm ci --prefix tests/js``).

    python benchmarks/bench_proxy_websocket.py [--rounds 3] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import uvloop
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_middleware import free_port, pinned  # noqa: E402
from benchmarks.bench_proxy import gateway, nginx, proxy_http  # noqa: E402
from tests.support.upstreams import process  # noqa: E402

CONNECTIONS = 32
MIB = 1024 * 1024


async def echo(url: str, seconds: float) -> float:
    """Round trips per second of ``CONNECTIONS`` connections."""
    message = "x" * 64
    deadline = time.perf_counter() + seconds
    counts = [0] * CONNECTIONS

    async def one(index: int) -> None:
        async with connect(url, proxy=None, compression=None) as ws:
            while time.perf_counter() < deadline:
                await ws.send(message)
                await ws.recv()
                counts[index] += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(CONNECTIONS)))
    return sum(counts) / (time.perf_counter() - started)


async def bulk(url: str, seconds: float) -> float:
    """MiB per second echoed over one connection, 1 MiB messages, 4 in flight."""
    message = os.urandom(MIB)
    deadline = time.perf_counter() + seconds
    done = 0
    async with connect(url, proxy=None, compression=None, max_size=4 * MIB) as ws:
        started = time.perf_counter()
        for _ in range(4):
            await ws.send(message)
        while time.perf_counter() < deadline:
            assert len(await ws.recv()) == MIB
            done += 1
            await ws.send(message)
        for _ in range(4):
            await ws.recv()
            done += 1
        return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3)
    args = parser.parse_args()
    node_modules = ROOT / "tests" / "js" / "node_modules"
    if hasattr(os, "sched_setaffinity") and pinned(0):
        os.sched_setaffinity(0, {0})
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        upstream, proxy, gw = free_port(), free_port(), free_port()
        env = {**os.environ, "NODE_PATH": str(node_modules)}
        script = str(ROOT / "tests" / "proxy" / "ws_echo.js")
        command = [*pinned(1), "node", script, str(upstream)]
        stack.enter_context(process(command, upstream, "ws echo", env=env))
        stack.enter_context(nginx(root, proxy_http(upstream, proxy, websocket=True), proxy))
        stack.enter_context(gateway(root, upstream, gw))
        targets = {
            "direct": f"ws://127.0.0.1:{upstream}/",
            "nginx": f"ws://127.0.0.1:{proxy}/",
            "gateway": f"ws://127.0.0.1:{gw}/",
        }
        for name, scenario, unit in (("echo", echo, "round trips/s"), ("bulk", bulk, "MiB/s")):
            results: dict[str, list[float]] = {target: [] for target in targets}
            for _ in range(args.rounds):
                for target, url in targets.items():
                    results[target].append(uvloop.run(scenario(url, args.seconds)))
            medians = {target: statistics.median(values) for target, values in results.items()}
            print(f"{name} ({unit}, median of {args.rounds}):")
            for target, value in medians.items():
                share = value / medians["nginx"]
                print(f"  {target:8} {value:10.1f}  ({share:.2f} of nginx)")


if __name__ == "__main__":
    main()
