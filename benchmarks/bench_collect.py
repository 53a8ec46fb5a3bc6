"""Analytics ingest on one gateway worker with the SQLite outbox, while the forwarder sends to
a local stand-in provider.

Three uvicorn processes: the gateway (one worker, pinned to core 1), a stand-in provider and
wrk (both on core 0). wrk posts hits for ``--seconds`` with 32 connections and reports
requests/s and latency percentiles; a 2xx means the hit was committed to the outbox. After
the load ends the script waits until the stand-in has every accepted hit and reports how many
had arrived by the end of the load ("kept up" when the backlog drains at once). For scale,
the same wrk run against uvicorn answering 202 to any POST (``baseline``) is printed as a
ratio.

    python benchmarks/bench_collect.py [--provider plausible|posthog] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_middleware import BROWSER, free_port, pinned  # noqa: E402

PATHS = {
    "plausible": "/_consent/collect/plausible/api/event",
    "posthog": "/_consent/collect/posthog/e/",
}
LUA = {
    # One pageview per request, as the Plausible tracker sends it.
    "plausible": """
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
wrk.body = '{"n":"pageview","v":36,"u":"https://shop.example/products/42?utm_source=news&gclid=Cj0","d":"shop.example","r":"https://www.google.com/search?q=shoes"}'
""",
    # One event per request (posthog-js without batching), each with its own uuid.
    "posthog": """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local i = 0
request = function()
  i = i + 1
  local body = string.format('{"event":"$pageview","uuid":"0193a8b2-0000-7000-8000-%%012x","properties":{"token":"phc_bench","distinct_id":"d%%d","$device_id":"d%%d","$session_id":"s","$current_url":"https://shop.example/p?gclid=Cj0"},"timestamp":"2026-12-01T20:00:00Z"}', i + %d * 1000000000, i, i)
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


def gateway_env(provider: str, upstream: str, database: Path) -> dict[str, str]:
    analytics = {provider: {"upstream": upstream}}
    return {
        "CONSENT_GATEWAY_SECRET": "benchmark-secret-0123456789",
        "CONSENT_GATEWAY_DATABASE_URL": f"sqlite:///{database}",
        "CONSENT_GATEWAY_ANALYTICS": json.dumps(analytics),
    }


def wrk(url: str, seconds: int, script: Path) -> dict[str, float]:
    command = [*pinned(0), "wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", "-s", str(script)]
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


def count(standin: str) -> int:
    return int(httpx.get(standin + "/count").json()["count"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=sorted(PATHS), default="plausible")
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "hit.lua"
        script.write_text(
            LUA[args.provider] % ((int(time.time()) % 1000,) if args.provider == "posthog" else ())
        )
        with serve("benchmarks.collect_apps:baseline", 1) as (baseline_url, _):
            wrk(baseline_url + "/", 2, script)
            baseline = wrk(baseline_url + "/", args.seconds, script)
        with serve("benchmarks.collect_apps:standin", 0) as (standin_url, _):
            env = gateway_env(args.provider, standin_url, Path(tmp) / "outbox.sqlite3")
            with serve("benchmarks.collect_apps:gateway", 1, env) as (gateway_url, _):
                result = wrk(gateway_url + PATHS[args.provider], args.seconds, script)
                at_end = count(standin_url)
                accepted = int(result["requests"] - result["errors"])
                started = time.monotonic()
                while count(standin_url) < accepted and time.monotonic() - started < 600:
                    time.sleep(0.2)
                drained = time.monotonic() - started
                delivered = count(standin_url)
    print(
        f"baseline (uvicorn, 202 to any POST): {baseline['rps']:.0f} req/s, "
        f"p99 {baseline.get('p99', 0):.2f} ms"
    )
    print(
        f"{args.provider}: {result['rps']:.0f} hits/s accepted ({result['rps'] / baseline['rps']:.1%} "
        f"of baseline), p50 {result.get('p50', 0):.2f} ms, p99 {result.get('p99', 0):.2f} ms, "
        f"{int(result['errors'])} errors"
    )
    print(
        f"forwarded by the end of the load: {at_end} of {accepted} ({at_end / max(accepted, 1):.1%}); "
        f"all {delivered} delivered {drained:.1f} s after it"
    )


if __name__ == "__main__":
    main()
