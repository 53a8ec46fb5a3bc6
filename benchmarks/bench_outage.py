"""Memory and backlog during a provider outage, and the drain after it.

The gateway (one uvicorn worker, core 1, SQLite outbox) collects Plausible hits at a fixed
rate (``--rate``, default 500/s) from an open-loop generator (core 0) while the provider is
down (nothing listens on its port), for ``--minutes`` (default 10). Every ``--every``
seconds the script prints the gateway's resident memory (VmRSS), the outbox backlog and the
hits the provider received. Then the stand-in provider starts on that port and the script
follows the drain until every accepted hit has arrived.

    python benchmarks/bench_outage.py [--minutes 10] [--rate 500] [--every 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_collect import (  # noqa: E402
    PATHS,
    count,
    fixed_rate,
    gateway_env,
    serve,
)
from benchmarks.bench_middleware import free_port  # noqa: E402
from benchmarks.loadgen import Load  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def backlog(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as db:
        return int(db.execute("SELECT count(*) FROM analytics_outbox").fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--every", type=float, default=30)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {0})
    standin_port = free_port()
    standin_url = f"http://127.0.0.1:{standin_port}"
    with tempfile.TemporaryDirectory() as tmp:
        database = Path(tmp) / "outbox.sqlite3"
        env = gateway_env("plausible", standin_url, database)
        with serve("benchmarks.collect_apps:gateway", 1, env) as (gateway_url, process):
            url = gateway_url + PATHS["plausible"]
            fixed_rate(url, "plausible", 50, 2, 0)  # warm-up, lands in the outbox too
            print(f"start: RSS {rss_mb(process.pid):.1f} MB")
            result: list[Load] = []
            seconds = args.minutes * 60
            loader = threading.Thread(
                target=lambda: result.append(fixed_rate(url, "plausible", args.rate, seconds, 0))
            )
            started = time.monotonic()
            loader.start()
            print("minute  RSS MB  outbox backlog  delivered")
            while loader.is_alive():
                loader.join(args.every)
                minute = (time.monotonic() - started) / 60
                print(f"{minute:6.1f}  {rss_mb(process.pid):6.1f}  {backlog(database):14d}  {0:9d}")
            load = result[0]
            print(f"outage over: {load.summary()}")
            accepted = load.ok + 100
            with serve("benchmarks.collect_apps:standin", 0, port=standin_port):
                recovered = time.monotonic()
                while True:
                    time.sleep(min(args.every, 5))
                    delivered = count(standin_url)
                    waiting = backlog(database)
                    since = time.monotonic() - recovered
                    print(
                        f"+{since:5.0f}s  {rss_mb(process.pid):6.1f}  {waiting:14d}  {delivered:9d}"
                    )
                    if waiting == 0 and delivered >= load.ok:
                        break
                print(
                    f"drained {delivered} hits (of {accepted} accepted incl. warm-up) in "
                    f"{time.monotonic() - recovered:.0f} s"
                )


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
