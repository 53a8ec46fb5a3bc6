"""The edge proxy's memory under minutes of mixed load: ``consent-gateway serve --upstream``
in front of a site (nginx serving a page and JSON, passing ``/upload`` to an express app and
``/ws`` to a ``ws`` echo server), loaded by 8 clients in turn fetching pages the gateway
injects its banner into (new visitors, gzip), 1 KB JSON, uploading 2-4 MiB (chunked) and
opening WebSocket sessions (three echoes, then close). The gateway's resident set size is
sampled every ``--every`` seconds once ``--warm-up`` is over; the growth from the first
sample to the last is the figure (target: under 20 MB in ten minutes). The gateway runs on
core 1 with the site, the load on core 0. Needs nginx and the test's npm packages (``npm ci
--prefix tests/js``).

    python benchmarks/bench_proxy_soak.py [--minutes 10] [--warm-up 30] [--every 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_middleware import free_port, pinned  # noqa: E402
from benchmarks.bench_proxy import gateway, nginx  # noqa: E402
from benchmarks.bench_proxy_memory import gateway_pid  # noqa: E402
from tests.support.soak import SITE_HTTP, node_env, soak, write_site  # noqa: E402
from tests.support.upstreams import PAGE, process  # noqa: E402

NODE_MODULES = ROOT / "tests" / "js" / "node_modules"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--warm-up", type=float, default=30, help="seconds")
    parser.add_argument("--every", type=float, default=10, help="seconds between samples")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary, ExitStack() as stack:
        root = Path(temporary)
        os.chmod(root, 0o755)
        write_site(root, PAGE)
        express, ws, site, ours = free_port(), free_port(), free_port(), free_port()
        env = node_env(NODE_MODULES)
        for script, port in (("express_site.js", express), ("ws_echo.js", ws)):
            command = [*pinned(1), "node", str(ROOT / "tests" / "proxy" / script), str(port)]
            stack.enter_context(process(command, port, script, env=env, stdout=subprocess.DEVNULL))
        http = SITE_HTTP.format(root=root, port=site, express=express, ws=ws)
        stack.enter_context(nginx(root, http, site))
        stack.enter_context(gateway(root, site, ours, max_body_size="0"))
        pid = gateway_pid(ours)
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
            os.sched_setaffinity(0, {0})

        def report(elapsed: float, mib: float) -> None:
            print(f"{elapsed:6.0f} s  gateway RSS {mib:6.1f} MiB", flush=True)

        mix, samples = uvloop.run(
            soak(
                f"http://127.0.0.1:{ours}",
                pid,
                warm_up=args.warm_up,
                seconds=args.minutes * 60,
                every=args.every,
                report=report,
                clients=args.clients,
            )
        )
        print(f"load: {mix.summary()}")
        for failure in mix.failures:
            print(f"  failure: {failure}")
        print(
            f"gateway RSS after {args.warm_up:.0f} s of warm-up {samples[0]:.1f} MiB, after "
            f"{args.minutes:g} more minutes {samples[-1]:.1f} MiB: growth "
            f"{samples[-1] - samples[0]:+.1f} MiB ({(samples[-1] - samples[0]) * 1.048576:+.1f}"
            f" MB); lowest {min(samples):.1f}, highest {max(samples):.1f} MiB"
        )


if __name__ == "__main__":
    main()
