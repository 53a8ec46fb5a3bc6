"""Instructions a request (valgrind's callgrind) of the repeated 50 KB gzip page, bare and
behind the gateway, in process: a count that does not move with the machine's load, unlike
requests/s here, so it shows small changes that wrk rounds cannot.

Each app serves ``--short`` and then ``--long`` requests in two runs under callgrind; the
difference divided by the difference in requests is the cost of one request without start-up.
The hash seed is fixed (dict probing depends on it) and results are averaged over ``--seeds``.
Request headers are new bytes every request, as a server parses them.

    python benchmarks/instructions.py [--targets MODULE:APP,MODULE:APP] [--seeds 0,1]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def drive(target: str, count: int) -> None:
    """Serve ``count`` GETs of / from ``target`` (module:attribute) in process."""
    from benchmarks.apps import accepted_consent_cookie
    from benchmarks.bench_html import get_scope
    from benchmarks.bench_middleware import BROWSER

    module, name = target.split(":")
    app = getattr(importlib.import_module(module), name)
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", BROWSER.encode()),
        (b"accept", b"*/*"),
        (b"accept-encoding", b"gzip"),
        (b"cookie", f"cg_consent={accepted_consent_cookie()}".encode()),
    ]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    async def requests() -> None:
        for _ in range(count):
            fresh = [(bytes(bytearray(n)), bytes(bytearray(v))) for n, v in headers]
            scope = get_scope("/", fresh)
            scope["state"] = {}
            await app(scope, receive, send)

    asyncio.run(requests())


def instructions(target: str, count: int, seed: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        command += [sys.executable, __file__, "--drive", target, str(count)]
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no callgrind total for {target}:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--targets", default="benchmarks.html_apps:bare,benchmarks.html_apps:gateway"
    )
    parser.add_argument("--short", type=int, default=1000)
    parser.add_argument("--long", type=int, default=4000)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--drive", nargs=2, metavar=("TARGET", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        drive(args.drive[0], int(args.drive[1]))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed (apt-get install valgrind)")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    results = {}
    for target in args.targets.split(","):
        per_seed = [
            (instructions(target, args.long, seed) - instructions(target, args.short, seed))
            / (args.long - args.short)
            for seed in seeds
        ]
        results[target] = sum(per_seed) / len(per_seed)
        print(f"{target}: {results[target]:,.0f} instructions a request")
    first, *others = results.items()
    for target, cost in others:
        print(f"{target}: +{cost - first[1]:,.0f} over {first[0]} ({first[1] / cost:.1%})")


if __name__ == "__main__":
    main()
