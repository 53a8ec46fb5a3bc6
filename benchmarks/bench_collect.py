"""Analytics ingest on one gateway worker with the SQLite outbox, while the forwarder sends to
a local stand-in provider.

The gateway (uvicorn, one worker) runs on core 1; the stand-in provider, wrk and the load
generator on core 0. Two measurements, each also run against ``baseline`` (uvicorn answering
202 to any POST after reading it) to show what the machine gives at that moment:

1. capacity: wrk, 32 connections, as fast as the server answers (closed loop), then with
   8 connections (less queueing in the server: its latency is closer to the work per hit);
2. latency at a fixed rate (``--rate``, default 3,000 hits/s): an open-loop generator
   (benchmarks/loadgen.py) that measures each request from its scheduled time.

A 2xx means the hit was committed to the outbox. After each gateway run the script waits
until the stand-in has every accepted hit and reports how many had arrived by the end of the
load: when the backlog is gone at once, the forwarder kept up.

    python benchmarks/bench_collect.py [--provider plausible|posthog] [--seconds 20] [--rate 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_middleware import BROWSER, free_port, pinned  # noqa: E402
from benchmarks.loadgen import Load, run  # noqa: E402

PATHS = {
    "plausible": "/_consent/collect/plausible/api/event",
    "posthog": "/_consent/collect/posthog/e/",
}
LUA = {
    # One pageview per request, as the Plausible tracker sends it.
    "plausible": """
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
wrk.body = '{"n":"pageview","v":36,"u":"https://shop.example/products/42?utm_source=news'
  .. '&gclid=Cj0","d":"shop.example","r":"https://www.google.com/search?q=shoes"}'
""",
    # One event per request (posthog-js without batching), each with its own uuid.
    "posthog": """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local i = 0
request = function()
  i = i + 1
  local body = string.format('{"event":"$pageview","uuid":"0193a8b2-0000-7000-8000-%%012x",'
    .. '"properties":{"token":"phc_bench","distinct_id":"d%%d","$device_id":"d%%d",'
    .. '"$current_url":"https://shop.example/p?gclid=Cj0"}}', i + %d * 1000000000, i, i)
  return wrk.format(nil, nil, nil, body)
end
""",
}


@contextmanager
def serve(
    target: str, core: int, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = port or free_port()
    process = subprocess.Popen(
        [*pinned(core), sys.executable, "-m", "uvicorn", target, "--port", str(port),
         "--no-access-log", "--log-level", "warning", "--no-proxy-headers"],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        process.wait(20)


def gateway_env(
    provider: str, upstream: str, database: Path, forwarder: str = "worker"
) -> dict[str, str]:
    analytics = {provider: {"upstream": upstream}, "forwarder": forwarder}
    return {
        "CONSENT_GATEWAY_SECRET": "benchmark-secret-0123456789",
        "CONSENT_GATEWAY_DATABASE_URL": f"sqlite:///{database}",
        "CONSENT_GATEWAY_ANALYTICS": json.dumps(analytics),
    }


def wrk(url: str, seconds: int, script: Path, connections: int = 32) -> dict[str, float]:
    command = [*pinned(0), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    command += ["-s", str(script)]
    command += ["-H", f"User-Agent: {BROWSER}", url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}  # type: ignore[union-attr]
    total = re.search(r"(\d+) requests in", output)
    found["requests"] = float(total.group(1)) if total else 0
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    found["errors"] = float(errors.group(1)) if errors else 0
    for label, name in (("50%", "p50"), ("99%", "p99")):
        match = re.search(rf"{re.escape(label)}\s+([\d.]+)(us|ms|s)\b", output)
        if match:
            value, unit = float(match.group(1)), match.group(2)
            found[name] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    return found


@contextmanager
def forwarding(mode: str, env: dict[str, str]) -> Iterator[None]:
    """With ``separate``, the forwarder process, pinned to core 0."""
    if mode != "separate":
        yield
        return
    command = [*pinned(0), sys.executable, "-m", "gateway.cli", "forward"]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})
    try:
        yield
    finally:
        process.terminate()
        process.wait(30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count(standin: str) -> int:
    return int(httpx.get(standin + "/count").json()["count"])


PLAUSIBLE_BODY = (
    b'{"n":"pageview","v":36,"u":"https://shop.example/products/42?utm_source=news&gclid=Cj0",'
    b'"d":"shop.example","r":"https://www.google.com/search?q=shoes"}'
)


def body_of(provider: str, offset: int) -> Callable[[int], bytes]:
    if provider == "plausible":
        return lambda _: PLAUSIBLE_BODY

    def posthog(index: int) -> bytes:
        uuid = f"0193a8b2-0000-7000-9000-{offset + index:012x}"
        return json.dumps(
            {
                "event": "$pageview",
                "uuid": uuid,
                "properties": {
                    "token": "phc_bench",
                    "distinct_id": f"d{index}",
                    "$device_id": f"d{index}",
                    "$current_url": "https://shop.example/p?gclid=Cj0",
                },
            }
        ).encode()

    return posthog


def fixed_rate(url: str, provider: str, rate: float, seconds: float, offset: int) -> Load:
    headers = {"user-agent": BROWSER, "content-type": "text/plain"}
    return asyncio.run(run(url, body_of(provider, offset), headers, rate, seconds))


def drain(standin: str, accepted: int) -> tuple[int, float, int]:
    """Hits at the stand-in when the load ended, seconds until all arrived, and all."""
    at_end = count(standin)
    started = time.monotonic()
    while count(standin) < accepted and time.monotonic() - started < 600:
        time.sleep(0.2)
    return at_end, time.monotonic() - started, count(standin)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=sorted(PATHS), default="plausible")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rate", type=float, default=3000)
    parser.add_argument(
        "--forwarder",
        choices=["worker", "separate"],
        default="worker",
        help="separate: `consent-gateway forward` as its own process on core 0",
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {0})  # the load generator shares core 0 with wrk, not the gateway
    offset = int(time.time()) % 100_000 * 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "hit.lua"
        script.write_text(
            LUA[args.provider] % ((offset // 1_000_000,) if args.provider == "posthog" else ())
        )
        with serve("benchmarks.collect_apps:baseline", 1) as (baseline_url, _):
            wrk(baseline_url + "/", 2, script)
            baseline = wrk(baseline_url + "/", args.seconds, script)
            baseline_rate = fixed_rate(
                baseline_url + "/", args.provider, args.rate, args.seconds, 0
            )
        with serve("benchmarks.collect_apps:standin", 0) as (standin_url, _):
            env = gateway_env(
                args.provider, standin_url, Path(tmp) / "outbox.sqlite3", args.forwarder
            )
            with (
                serve("benchmarks.collect_apps:gateway", 1, env) as (gateway_url, process),
                forwarding(args.forwarder, env),
            ):
                url = gateway_url + PATHS[args.provider]
                result = wrk(url, args.seconds, script)
                accepted = int(result["requests"] - result["errors"])
                capacity_drain = drain(standin_url, accepted)
                few = wrk(url, args.seconds, script, connections=8)
                drain(standin_url, accepted + int(few["requests"] - few["errors"]))
                before = count(standin_url)
                cpu_before = cpu_seconds(process.pid)
                at_rate = fixed_rate(url, args.provider, args.rate, args.seconds, offset + 10**9)
                rate_drain = drain(standin_url, before + at_rate.ok)
                cpu_per_hit = (cpu_seconds(process.pid) - cpu_before) / max(at_rate.ok, 1)
    print(f"provider {args.provider}, forwarder {args.forwarder}, {args.seconds} s per run")
    print(
        f"capacity (wrk -c32): baseline {baseline['rps']:.0f} req/s; gateway {result['rps']:.0f} "
        f"hits/s ({result['rps'] / baseline['rps']:.1%}), p50 {result.get('p50', 0):.2f} ms, "
        f"p99 {result.get('p99', 0):.2f} ms, {int(result['errors'])} errors"
    )
    at_end, seconds, delivered = capacity_drain
    print(
        f"  forwarded by the end of the load: {at_end} of {accepted}; "
        f"all {delivered} delivered {seconds:.1f} s after it"
    )
    print(
        f"8 connections (wrk -c8): gateway {few['rps']:.0f} hits/s, p50 {few.get('p50', 0):.2f} "
        f"ms, p99 {few.get('p99', 0):.2f} ms, {int(few['errors'])} errors"
    )
    print(f"at {args.rate:.0f} hits/s: baseline {baseline_rate.summary()}")
    print(f"  gateway {at_rate.summary()}")
    at_end, seconds, delivered = rate_drain
    work = "ingest only" if args.forwarder == "separate" else "ingest and forwarding"
    print(
        f"  gateway worker CPU per hit ({work}): {cpu_per_hit * 1e6:.0f} us "
        f"(one core: {1 / cpu_per_hit:.0f} hits/s)"
    )
    print(
        f"  forwarded by the end of the load: {at_end - before} of {at_rate.ok}; "
        f"all delivered {seconds:.1f} s after it"
    )


if __name__ == "__main__":
    main()
