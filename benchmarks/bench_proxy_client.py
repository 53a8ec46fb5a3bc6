"""Why ``gateway.proxy`` has a client of its own: requests/s of its ``ProxyApp`` against the
same forwarding written with aiohttp's client (a pooled ``ClientSession``, the response
streamed with ``iter_any``), each alone under uvicorn (uvloop, httptools) in front of the same
nginx, no middleware, wrk ``-t1 -c32`` on a 1 KB JSON file, alternately.

    python benchmarks/bench_proxy_client.py [--rounds 3] [--seconds 4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_middleware import BROWSER, free_port, pinned  # noqa: E402
from benchmarks.bench_proxy import UPSTREAM_HTTP, nginx, wrk  # noqa: E402
from tests.support.upstreams import process  # noqa: E402

# The apps, importable by uvicorn from this file: ``bench_proxy_client:ours`` and ``:aiohttp``.
APPS = """
import os

import aiohttp

from gateway.proxy import ProxyApp
from gateway.settings import Settings

UPSTREAM = os.environ["BENCH_UPSTREAM"]
ours = ProxyApp.from_settings(Settings.load(environ={}, upstream=UPSTREAM))
HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"host"}
_session = None


async def with_aiohttp(scope, receive, send):
    global _session
    if scope["type"] != "http":
        return
    if _session is None:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, force_close=False)
        _session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
    url = UPSTREAM + scope["raw_path"].decode()
    headers = [(n.decode(), v.decode()) for n, v in scope["headers"] if n not in HOP]
    async with _session.request(scope["method"], url, headers=headers) as response:
        out = [(n.lower(), v) for n, v in response.raw_headers if n.lower() not in HOP]
        await send({"type": "http.response.start", "status": response.status, "headers": out})
        async for piece in response.content.iter_any():
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary, ExitStack() as stack:
        root = Path(temporary)
        os.chmod(root, 0o755)
        (root / "site").mkdir()
        (root / "site" / "data.json").write_text(json.dumps({"pad": "x" * 1000}))
        (root / "proxy_apps.py").write_text(APPS)
        upstream = free_port()
        stack.enter_context(nginx(root, UPSTREAM_HTTP.format(root=root, port=upstream), upstream))
        env = {
            **os.environ,
            "BENCH_UPSTREAM": f"http://127.0.0.1:{upstream}",
            "PYTHONPATH": f"{root}:{ROOT}",
        }
        ports = {}
        for name, target in (("gateway.proxy", "ours"), ("aiohttp", "with_aiohttp")):
            port = ports[name] = free_port()
            command = [*pinned(1), sys.executable, "-m", "uvicorn", f"proxy_apps:{target}"]
            command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
            command += ["--no-proxy-headers", "--lifespan", "off"]
            stack.enter_context(process(command, port, name, env=env))
        headers = {"Accept": "application/json", "User-Agent": BROWSER}
        rates: dict[str, list[float]] = {name: [] for name in ports}
        for round_ in range(args.rounds):
            for name, port in ports.items():
                rate, p99 = wrk(f"http://127.0.0.1:{port}/data.json", args.seconds, headers)
                rates[name].append(rate)
                print(f"round {round_ + 1}: {name} {rate:,.0f} req/s (p99 {p99})", flush=True)
        ours, theirs = (statistics.median(rates[name]) for name in ports)
        print(
            f"median: gateway.proxy {ours:,.0f} req/s, aiohttp {theirs:,.0f} req/s, "
            f"ratio {ours / theirs:.2f}"
        )


if __name__ == "__main__":
    main()
