"""What ``serve``'s access log costs a request, in-process: the two wrappers and the line
(``combined`` or ``json``) around a trivial ASGI app answering 1 KB, against the bare app;
lines go to /dev/null.

    python benchmarks/bench_access_log.py [--requests 100000] [--format combined|json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.proxy.access_log import AccessLog
from gateway.settings import Settings

AGENT = (
    b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/131.0.0.0 Safari/537.36"
)
START = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"json")]}
BODY = {"type": "http.response.body", "body": b"x" * 1024}


async def app(scope: Any, receive: Any, send: Any) -> None:
    await send(START)
    await send(BODY)


async def send(message: Any) -> None:
    pass


async def receive() -> Any:
    return {"type": "http.request"}


def scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": "/data.json",
        "raw_path": b"/data.json",
        "query_string": b"",
        "http_version": "1.1",
        "client": ("203.0.113.7", 5555),
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", AGENT), (b"accept", b"*/*")],
        "state": {},
    }


async def per_request(asgi: Any, requests: int) -> float:
    began = time.perf_counter()
    for _ in range(requests):
        await asgi(scope(), receive, send)
    return (time.perf_counter() - began) / requests * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--format", choices=["combined", "json"], default="combined")
    args = parser.parse_args()
    settings = Settings.load(
        environ={}, secret="benchmark-secret-0123456789", access_log=args.format
    )
    log = AccessLog.from_settings(settings)
    assert log is not None
    log.fd = os.open(os.devnull, os.O_WRONLY)
    logged = log.around(log.upstream(app))
    for round_ in range(3):
        bare = await per_request(app, args.requests)
        on = await per_request(logged, args.requests)
        print(f"round {round_ + 1}: bare {bare:.2f} us, logged {on:.2f} us: +{on - bare:.2f} us")


if __name__ == "__main__":
    asyncio.run(main())
