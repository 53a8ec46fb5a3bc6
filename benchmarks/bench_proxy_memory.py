"""The gateway's memory while 1 GiB goes each way through ``consent-gateway serve``: a
download of a 1 GiB file nginx serves, then a 1 GiB upload (chunked) to the express site of
the tests, which counts the bytes. Prints the gateway process's peak resident set size
(VmHWM) before and after each, and the throughput. Needs nginx (``apt-get install -y
nginx-light``) and the test's npm packages (``npm ci --prefix tests/js``).

    python benchmarks/bench_proxy_memory.py [--gib 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_middleware import free_port, pinned  # noqa: E402
from benchmarks.bench_proxy import gateway, nginx  # noqa: E402
from tests.support.upstreams import process  # noqa: E402

SITE_HTTP = """
server {{
    listen 127.0.0.1:{port};
    root {root}/site;
}}
"""
MIB = 1024 * 1024


def peak_rss(pid: int) -> float:
    """Peak resident set size of ``pid``, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def gateway_pid(port: int) -> int:
    """The pid of the process listening on ``port`` (the gateway, under taskset or not)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
            inode = fields[9]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return int(pid)
        except OSError:
            continue
    raise RuntimeError("gateway not found")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0)
    args = parser.parse_args()
    size = int(args.gib * 1024 * MIB)
    with tempfile.TemporaryDirectory() as temporary, ExitStack() as stack:
        root = Path(temporary)
        os.chmod(root, 0o755)
        (root / "site").mkdir()
        with (root / "site" / "big.bin").open("wb") as big:
            big.truncate(size)
        upstream, counter, ours, theirs = free_port(), free_port(), free_port(), free_port()
        stack.enter_context(nginx(root, SITE_HTTP.format(root=root, port=upstream), upstream))
        env = {**os.environ, "NODE_PATH": str(ROOT / "tests" / "js" / "node_modules")}
        site = [*pinned(1), "node", str(ROOT / "tests" / "proxy" / "express_site.js")]
        stack.enter_context(
            process([*site, str(counter)], counter, "express", env=env, stdout=subprocess.DEVNULL)
        )
        stack.enter_context(gateway(root, upstream, ours, max_body_size="0"))
        stack.enter_context(gateway(root, counter, theirs, max_body_size="0"))
        pid = gateway_pid(ours)
        url = f"http://127.0.0.1:{ours}"
        httpx.get(url + "/_consent/state")
        print(f"gateway peak RSS at start: {peak_rss(pid):.1f} MiB")

        started, received = time.monotonic(), 0
        with httpx.stream("GET", url + "/big.bin", timeout=120) as response:
            for piece in response.iter_raw(MIB):
                received += len(piece)
        seconds = time.monotonic() - started
        assert received == size, received
        print(
            f"download {size / MIB:,.0f} MiB in {seconds:.1f} s ({size / MIB / seconds:,.0f} MiB/s)"
            f", gateway peak RSS {peak_rss(pid):.1f} MiB"
        )

        def body() -> Iterator[bytes]:
            piece = bytes(MIB)
            for _ in range(size // MIB):
                yield piece

        pid = gateway_pid(theirs)
        print(f"gateway in front of express, peak RSS at start: {peak_rss(pid):.1f} MiB")
        started = time.monotonic()
        response = httpx.post(f"http://127.0.0.1:{theirs}/upload", content=body(), timeout=120)
        seconds = time.monotonic() - started
        assert response.json() == {"bytes": size, "chunked": True}, response.text
        print(
            f"upload {size / MIB:,.0f} MiB in {seconds:.1f} s ({size / MIB / seconds:,.0f} MiB/s)"
            f", gateway peak RSS {peak_rss(pid):.1f} MiB"
        )


if __name__ == "__main__":
    main()
