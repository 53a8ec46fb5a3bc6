"""Requests/s of ``consent-gateway serve --upstream`` against nginx ``proxy_pass`` (keepalive
on), both in front of the same nginx serving static files, loaded alternately by the same
wrk (``-t1 -c32``), in one run.

Scenarios: ``json`` (a 1 KB JSON file, passed through untouched) and ``page`` (a 50 KB HTML
page, gzip from nginx; the gateway decodes it, injects the banner and compresses again, as for
a visitor who has not chosen yet). The proxies and the upstream run on core 1, wrk on core 0
(``taskset``). Needs nginx and wrk (``apt-get install -y nginx-light wrk``).

    python benchmarks/bench_proxy.py [--scenario json|page] [--rounds 5] [--seconds 5]

``--access-log compare`` loads the gateway with its access log (``combined``) and without
(``off``) alternately instead, and reports the ratio of their rates.

``--with-naive`` loads, in the same rounds, two reverse proxies written the obvious way
(``naive_aiohttp_proxy.py``: aiohttp's server and client; ``naive_httpx_proxy.py``: uvicorn
and an httpx client), each a ratio of nginx's rate.

``--latency-at-half`` then loads the gateway and nginx ``proxy_pass`` alternately at half
the gateway's top rate (the median of its wrk rounds) with an open-loop load at that fixed
rate (``loadgen.py``, aiohttp on core 0; latency counted from each request's scheduled
time), ``--latency-rounds`` rounds of ``--latency-seconds``, and reports the p99 of each
and the latency the gateway adds at p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_middleware import BROWSER, free_port, pinned  # noqa: E402
from benchmarks.html_apps import PAGE  # noqa: E402
from benchmarks.loadgen import run as open_loop  # noqa: E402
from tests.support.nginx import running_nginx  # noqa: E402
from tests.support.upstreams import process  # noqa: E402

SECRET = "benchmark-secret-0123456789"
# The ``http`` block (``tests.support.nginx``) of the upstream, nginx serving ``site/``
# (nginx proxying to it: ``proxy_http``).
UPSTREAM_HTTP = """
types {{ text/html html; application/json json; }}
gzip on;
gzip_types application/json;
gzip_min_length 2000;
server {{
    listen 127.0.0.1:{port};
    root {root}/site;
    keepalive_requests 100000;
}}
"""


def proxy_http(upstream: int, port: int, *, websocket: bool = False) -> str:
    """nginx on ``port`` ``proxy_pass``ing to ``upstream``: HTTP over a pool of 32
    kept-alive connections, or WebSockets (each upgraded connection one of its own)."""
    if websocket:
        pool, target, keep = "", f"http://127.0.0.1:{upstream}", ""
        hop = (
            "proxy_set_header Upgrade $http_upgrade;\n"
            'proxy_set_header Connection "upgrade";\n'
            "proxy_read_timeout 3600s;"
        )
    else:
        pool = f"upstream site {{ server 127.0.0.1:{upstream}; keepalive 32; }}"
        target, keep = "http://site", "keepalive_requests 100000;"
        hop = 'proxy_set_header Connection "";'
    location = (
        f"proxy_pass {target};\nproxy_http_version 1.1;\n{hop}\n"
        "proxy_set_header Host $host;\n"
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "proxy_set_header X-Forwarded-Proto $scheme;"
    )
    return (
        f"{pool}\nserver {{\n    listen 127.0.0.1:{port};\n    {keep}\n"
        f"    location / {{\n{textwrap.indent(location, '        ')}\n    }}\n}}"
    )


@contextmanager
def nginx(root: Path, http: str, port: int) -> Iterator[None]:
    """nginx on ``port`` and core 1, with ``http`` for its ``http`` block."""
    with running_nginx(root, f"nginx-{port}", http, port, prefix=pinned(1)):
        yield


@contextmanager
def gateway(root: Path, upstream: int, port: int, **settings: str) -> Iterator[None]:
    env = {
        **os.environ,
        "CONSENT_GATEWAY_SECRET": SECRET,
        "CONSENT_GATEWAY_DATABASE_URL": f"sqlite:///{root / 'consent.db'}",
        **{f"CONSENT_GATEWAY_{key.upper()}": value for key, value in settings.items()},
    }
    command = [*pinned(1), sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)]
    command += ["--upstream", f"http://127.0.0.1:{upstream}"]
    with (
        (root / f"gateway-{port}.log").open("wb") as log,
        process(command, port, "gateway", env=env, stdout=log, stderr=log, cwd=ROOT),
    ):
        yield


def wrk(url: str, seconds: int, headers: dict[str, str]) -> tuple[float, str]:
    """Requests/s and the 99th percentile latency of one wrk run."""
    command = [*pinned(0), "wrk", "-t1", "-c32", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = next(line for line in output.splitlines() if line.startswith("Requests/sec:"))
    p99 = next(line for line in output.splitlines() if line.strip().startswith("99%"))
    if "Non-2xx" in output:
        raise RuntimeError(f"errors from {url}: {output}")
    return float(rate.split()[1]), p99.split()[1]


@contextmanager
def naive(root: Path, script: str, upstream: int, port: int) -> Iterator[None]:
    """One of the naive proxies of ``benchmarks/`` on ``port``, on core 1."""
    command = [*pinned(1), sys.executable, str(ROOT / "benchmarks" / script), str(port)]
    command.append(f"http://127.0.0.1:{upstream}")
    with (
        (root / f"naive-{port}.log").open("wb") as log,
        process(command, port, script, stdout=log, stderr=log, cwd=ROOT),
    ):
        yield


def latency_at(
    url: str, rate: float, seconds: float, headers: dict[str, str]
) -> tuple[float, float]:
    """The p50 and p99 latency (ms) of GETs of ``url`` at ``rate`` a second, open loop, from
    core 0."""
    if hasattr(os, "sched_setaffinity") and len(pinned(0)) > 0:
        os.sched_setaffinity(0, {0})
    load = asyncio.run(
        open_loop(url, lambda _: b"", headers, rate, seconds, connections=64, method="GET")
    )
    if load.failures or load.ok != load.sent:
        raise RuntimeError(f"errors from {url}: {load.summary()}")
    return load.percentile(0.5) * 1000, load.percentile(0.99) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=["json", "page"], default="json")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument(
        "--access-log", choices=["combined", "json", "off", "compare"], default="combined"
    )
    parser.add_argument("--with-naive", action="store_true")
    parser.add_argument("--latency-at-half", action="store_true")
    parser.add_argument("--latency-rounds", type=int, default=3)
    parser.add_argument("--latency-seconds", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary, ExitStack() as stack:
        root = Path(temporary)
        os.chmod(root, 0o755)
        site = root / "site"
        site.mkdir()
        item = {"id": 1, "name": "consent", "tags": ["a", "b"], "pad": "x" * 940}
        (site / "data.json").write_text(json.dumps(item))
        (site / "page.html").write_bytes(PAGE)
        upstream, proxy, ours = free_port(), free_port(), free_port()
        stack.enter_context(nginx(root, UPSTREAM_HTTP.format(root=root, port=upstream), upstream))
        if args.access_log == "compare":
            # The same gateway without its access log takes nginx's place.
            stack.enter_context(gateway(root, upstream, ours, access_log="combined"))
            stack.enter_context(gateway(root, upstream, proxy, access_log="off"))
        else:
            stack.enter_context(nginx(root, proxy_http(upstream, proxy), proxy))
            stack.enter_context(gateway(root, upstream, ours, access_log=args.access_log))
        others = {}
        if args.with_naive:
            for name, script in (
                ("naive aiohttp", "naive_aiohttp_proxy.py"),
                ("naive httpx", "naive_httpx_proxy.py"),
            ):
                others[name] = free_port()
                stack.enter_context(naive(root, script, upstream, others[name]))
        if args.scenario == "json":
            path, headers = "/data.json", {"Accept": "application/json"}
        else:
            path = "/page.html"
            headers = {"Accept": "text/html", "Accept-Encoding": "gzip"}
        headers["User-Agent"] = BROWSER
        ratios, ours_rates = [], []
        others_ratios: dict[str, list[float]] = {name: [] for name in others}
        for round_ in range(args.rounds):
            ours_rate, ours_p99 = wrk(f"http://127.0.0.1:{ours}{path}", args.seconds, headers)
            nginx_rate, nginx_p99 = wrk(f"http://127.0.0.1:{proxy}{path}", args.seconds, headers)
            ratios.append(ours_rate / nginx_rate)
            ours_rates.append(ours_rate)
            other = "nginx proxy_pass"
            if args.access_log == "compare":
                other = "gateway, access log off"
            print(
                f"round {round_ + 1}: gateway {ours_rate:,.0f} req/s (p99 {ours_p99}), "
                f"{other} {nginx_rate:,.0f} req/s (p99 {nginx_p99}), "
                f"ratio {ours_rate / nginx_rate:.3f}",
                flush=True,
            )
            for name, port in others.items():
                rate, p99 = wrk(f"http://127.0.0.1:{port}{path}", args.seconds, headers)
                others_ratios[name].append(rate / nginx_rate)
                print(
                    f"         {name} {rate:,.0f} req/s (p99 {p99}), "
                    f"ratio to nginx {rate / nginx_rate:.3f}",
                    flush=True,
                )
        print(f"{args.scenario}: median ratio {statistics.median(ratios):.3f}")
        for name, values in others_ratios.items():
            print(f"{args.scenario}: {name}, median ratio {statistics.median(values):.3f}")
        if args.latency_at_half:
            rate = statistics.median(ours_rates) / 2
            print(f"open loop at {rate:,.0f} req/s (half the gateway's median rate)", flush=True)
            added = []
            for round_ in range(args.latency_rounds):
                url = f"http://127.0.0.1:{{}}{path}"
                p50, p99 = latency_at(url.format(ours), rate, args.latency_seconds, headers)
                nginx_p50, nginx_p99 = latency_at(
                    url.format(proxy), rate, args.latency_seconds, headers
                )
                added.append(p99 - nginx_p99)
                print(
                    f"round {round_ + 1}: gateway p50 {p50:.2f} ms p99 {p99:.2f} ms, nginx "
                    f"proxy_pass p50 {nginx_p50:.2f} ms p99 {nginx_p99:.2f} ms, added at p99 "
                    f"{added[-1]:+.2f} ms",
                    flush=True,
                )
            print(f"p99 added at half rate: median {statistics.median(added):+.2f} ms")


if __name__ == "__main__":
    main()
