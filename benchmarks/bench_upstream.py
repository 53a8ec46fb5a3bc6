"""CPU time per forwarded POST: the gateway's HTTP client (``gateway.analytics.upstream``)
against aiohttp, in the same run, each sending the same Plausible-sized POSTs, 32 at a
time, to the stand-in provider.

The stand-in (uvicorn) runs on core 0, the client on core 1; each client runs in a process
of its own, so its CPU time (``time.process_time``) is its own work only. Needs the
``bench`` extra (aiohttp, uvloop).

    python benchmarks/bench_upstream.py [--posts 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import uvloop  # noqa: E402

from benchmarks.bench_collect import PLAUSIBLE_BODY, serve  # noqa: E402
from benchmarks.bench_middleware import pinned  # noqa: E402
from gateway.analytics.upstream import HttpUpstream  # noqa: E402

HEADERS = {
    "content-type": "application/json",
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
    "x-forwarded-for": "203.0.113.0",
}
CONCURRENCY = 32


async def _drive(post: Callable[..., Awaitable[int]], url: str, posts: int) -> None:
    remaining = iter(range(posts))

    async def worker() -> None:
        for _ in remaining:
            status = await post(url, PLAUSIBLE_BODY, HEADERS)
            if status != 200:
                raise RuntimeError(f"status {status}")

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def _gateway_client(url: str, posts: int) -> None:
    client = HttpUpstream(timeout=10)
    await _drive(client.post, url, posts)
    await client.aclose()


async def _aiohttp_client(url: str, posts: int) -> None:
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=128),
        timeout=aiohttp.ClientTimeout(total=10),
        trust_env=False,
        auto_decompress=False,
    )

    async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        async with session.post(url, data=body, headers=headers, allow_redirects=False) as r:
            await r.read()
            return r.status

    await _drive(post, url, posts)
    await session.close()


def client_main(kind: str, url: str, posts: int) -> None:
    """In the client process: run the posts, print CPU µs per POST (imports excluded)."""
    started = time.process_time()
    uvloop.run({"gateway": _gateway_client, "aiohttp": _aiohttp_client}[kind](url, posts))
    print((time.process_time() - started) / posts * 1e6)


def measure(kind: str, url: str, posts: int) -> float:
    command = [*pinned(1), sys.executable, __file__, "--client", kind, "--url", url]
    output = subprocess.run([*command, "--posts", str(posts)], capture_output=True, text=True)
    if output.returncode != 0:
        raise RuntimeError(output.stderr)
    return float(output.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--client", choices=["gateway", "aiohttp"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args.client, args.url, args.posts)
        return
    found: dict[str, list[float]] = {"gateway": [], "aiohttp": []}
    with serve("benchmarks.collect_apps:standin", core=0) as (standin, _):
        url = standin + "/api/event"
        for round_number in range(args.rounds):
            for kind in found:
                found[kind].append(measure(kind, url, args.posts))
            print(
                f"round {round_number + 1}: gateway client {found['gateway'][-1]:.1f} µs of "
                f"CPU a POST, aiohttp {found['aiohttp'][-1]:.1f} µs"
            )
    gateway, aiohttp = statistics.median(found["gateway"]), statistics.median(found["aiohttp"])
    print(
        f"median over {args.rounds} rounds of {args.posts} POSTs: gateway client {gateway:.1f} µs, "
        f"aiohttp {aiohttp:.1f} µs ({aiohttp / gateway:.1f} times as much)"
    )


if __name__ == "__main__":
    main()
