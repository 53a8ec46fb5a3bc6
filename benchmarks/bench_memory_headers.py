"""Memory of ``consent-gateway serve`` under requests with large, never repeated headers.

Starts the demo server as ``consent-gateway serve`` does (``python -m gateway.cli serve``,
from this checkout), reads its RSS (``/proc/<pid>/status``) after a warm-up request, sends
the requests (8 connections at a time, one request each) and reads it again. Variants:
  consent  a unique consent cookie of ``--bytes`` each (default 1 MiB): the value is new on
           every request, so every memo keyed by it would keep it
  names    a cookie of ``--bytes`` under a random name each (default 15 KiB, just under
           serve's 16 KiB limit of the request line and headers), beside a valid session

    python benchmarks/bench_memory_headers.py [--variant consent] [--requests 1500]
        [--bytes 1048576]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BYTES = {"consent": 1024 * 1024, "names": 15 * 1024}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cookie(variant: str, size: int) -> bytes:
    """A Cookie header value never sent before."""
    if variant == "consent":
        return b"cg_consent=" + secrets.token_urlsafe(size)[:size].encode()
    name = b"c" + secrets.token_hex(8).encode()
    return b"sessionid=s3ss10n; " + name + b"=" + secrets.token_urlsafe(size)[:size].encode()


async def request(port: int, cookie_value: bytes) -> int:
    """One GET / with this Cookie header; the response's status (0: closed before one)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: "
            + cookie_value
            + b"\r\n\r\n"
        )
        await writer.drain()
        status_line = await reader.readline()
        await reader.read()
        return int(status_line.split()[1]) if status_line else 0
    except (ConnectionError, IndexError, ValueError):
        return 0
    finally:
        writer.close()


async def load(port: int, variant: str, size: int, count: int) -> collections.Counter[int]:
    statuses: collections.Counter[int] = collections.Counter()
    queue = iter(range(count))

    async def worker() -> None:
        for _ in queue:
            statuses[await request(port, cookie(variant, size))] += 1

    await asyncio.gather(*(worker() for _ in range(8)))
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=sorted(DEFAULT_BYTES), default="consent")
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--bytes", type=int, help="cookie value size (default per variant)")
    args = parser.parse_args()
    size = args.bytes or DEFAULT_BYTES[args.variant]
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "CONSENT_GATEWAY_SECRET": "bench-secret-0123456789abcdef",
            "CONSENT_GATEWAY_DATABASE_URL": f"sqlite:///{tmp}/consent.db",
        }
        command = [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)]
        server = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the server did not start") from None
                    time.sleep(0.1)
            asyncio.run(load(port, "names", 100, 20))  # warm-up: first pages, memos in use
            before = rss_mb(server.pid)
            started = time.monotonic()
            statuses = asyncio.run(load(port, args.variant, size, args.requests))
            seconds = time.monotonic() - started
            after = rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(10)
    # "closed": the server answered (431) and closed while the request was still being sent
    answers = ", ".join(f"{status or 'closed'}: {n}" for status, n in sorted(statuses.items()))
    print(
        f"{args.requests} requests, variant {args.variant}, {size:,} bytes each, {seconds:.1f} s "
        f"({answers}): RSS {before:.1f} MB before, {after:.1f} MB after "
        f"(+{after - before:.1f} MB)"
    )


if __name__ == "__main__":
    main()
