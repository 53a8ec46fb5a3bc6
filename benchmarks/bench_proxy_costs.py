"""What one proxied 1 KB JSON request costs, counted rather than timed: figures that move far
less with the machine's other work than requests/s do, to decide whether a change helps.

Modes (each against nginx ``proxy_pass`` in front of the same nginx, as ``bench_proxy.py``):

- ``cpu``: wrk rounds (``-t1 -c32``) alternately, and each process's CPU time (user and
  system, ``/proc``) a request: the proxy's and the upstream's, which shares its core;
- ``syscalls``: ``strace -f -c`` on each proxy during a wrk run: system calls a request;
- ``instructions``: ``serve`` under valgrind's callgrind (nginx left out), counters zeroed
  after a warm-up, then ``--requests`` GETs over 16 keep-alive connections: instructions a
  request in user space (the kernel's work is not counted: see ``syscalls``). The cyclic
  garbage collector is off there, so that one full collection falling in the window or not
  does not move the count.

``--source DIR`` adds the gateway of another checkout (``git worktree add DIR COMMIT``) to
compare, named by its folder.

    python benchmarks/bench_proxy_costs.py cpu [--rounds 8] [--seconds 3] [--source DIR]
    python benchmarks/bench_proxy_costs.py syscalls [--seconds 3] [--source DIR]
    python benchmarks/bench_proxy_costs.py instructions [--requests 2000] [--source DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_middleware import BROWSER, free_port, pinned  # noqa: E402
from benchmarks.bench_proxy import PROXY_CONF, SECRET, UPSTREAM_CONF, nginx  # noqa: E402
from tests.proxy.conftest import process  # noqa: E402

HEADERS = {"Accept": "application/json", "User-Agent": BROWSER}
TICK = os.sysconf("SC_CLK_TCK")
# serve with the cyclic garbage collector off (instructions mode)
NO_GC = "import gc, runpy; gc.disable(); runpy.run_module('gateway.cli', run_name='__main__')"


def worker(master: int) -> int:
    """nginx's worker process (``worker_processes 1``): the one that serves."""
    for _ in range(50):
        found = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
        if found.stdout.split():
            return int(found.stdout.split()[0])
        time.sleep(0.1)
    raise RuntimeError("no nginx worker")


@contextmanager
def nginx_worker(root: Path, conf: str, port: int, **values: object) -> Iterator[int]:
    with nginx(root, conf, port, **values):
        master = subprocess.run(
            ["pgrep", "-f", f"nginx-{port}.conf"], capture_output=True, text=True
        ).stdout.split()
        yield worker(int(master[0]))


@contextmanager
def gateway(root: Path, source: Path, upstream: int, port: int) -> Iterator[int]:
    """``serve`` of the checkout at ``source``; yields its pid."""
    env = {
        **os.environ,
        "CONSENT_GATEWAY_SECRET": SECRET,
        "CONSENT_GATEWAY_DATABASE_URL": f"sqlite:///{root / f'consent-{port}.db'}",
    }
    command = [
        *pinned(1),
        sys.executable,
        "-m",
        "gateway.cli",
        "serve",
        "--port",
        str(port),
        "--upstream",
        f"http://127.0.0.1:{upstream}",
    ]
    with (
        (root / f"gateway-{port}.log").open("wb") as log,
        process(command, port, "gateway", env=env, stdout=log, stderr=log, cwd=source) as pid,
    ):
        yield pid


def wrk(port: int, seconds: int) -> tuple[int, float]:
    """Requests done and requests/s of one wrk run."""
    command = [*pinned(0), "wrk", "-t1", "-c32", f"-d{seconds}s"]
    for name, value in HEADERS.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://127.0.0.1:{port}/data.json")
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output:
        raise RuntimeError(output)
    done = re.search(r"(\d+) requests in", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert done and rate, output
    return int(done.group(1)), float(rate.group(1))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu(proxies: dict[str, tuple[int, int]], upstream: int, args: argparse.Namespace) -> None:
    per: dict[str, list[float]] = {name: [] for name in proxies}
    upstream_per: dict[str, list[float]] = {name: [] for name in proxies}
    rates: dict[str, list[float]] = {name: [] for name in proxies}
    for round_ in range(args.rounds):
        line = []
        for name, (port, pid) in proxies.items():
            before, upstream_before = cpu_seconds(pid), cpu_seconds(upstream)
            done, rate = wrk(port, args.seconds)
            used = (cpu_seconds(pid) - before) / done * 1e6
            upstream_used = (cpu_seconds(upstream) - upstream_before) / done * 1e6
            per[name].append(used)
            upstream_per[name].append(upstream_used)
            rates[name].append(rate)
            line.append(f"{name} {rate:,.0f}/s {used:.1f} µs (upstream {upstream_used:.1f} µs)")
        load = os.getloadavg()[0]
        print(f"round {round_ + 1} (load {load:.2f}): " + "; ".join(line), flush=True)
    for name in proxies:
        ratio = ""
        if name != "nginx":
            ratios = [
                ours / theirs for ours, theirs in zip(rates[name], rates["nginx"], strict=True)
            ]
            ratio = f", ratio to nginx {statistics.median(ratios):.3f}"
        print(
            f"{name}: median {statistics.median(per[name]):.1f} µs of CPU a request, the "
            f"upstream {statistics.median(upstream_per[name]):.1f} µs{ratio}"
        )


def syscalls(proxies: dict[str, tuple[int, int]], args: argparse.Namespace) -> None:
    for name, (port, pid) in proxies.items():
        with tempfile.NamedTemporaryFile(suffix=".strace") as out:
            tracer = subprocess.Popen(
                ["strace", "-f", "-c", "-o", out.name, "-p", str(pid)], stderr=subprocess.DEVNULL
            )
            time.sleep(0.5)
            done, _ = wrk(port, args.seconds)
            tracer.send_signal(signal.SIGINT)
            tracer.wait()
            counts: dict[str, int] = {}
            for row in Path(out.name).read_text().splitlines():
                parts = row.split()
                if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                    counts[parts[-1]] = int(parts[3])
        total = sum(counts.values()) / done
        each = sorted(counts.items(), key=lambda item: -item[1])
        shown = ", ".join(f"{call} {n / done:.2f}" for call, n in each if n / done >= 0.005)
        print(f"{name}: {done} requests, {total:.2f} system calls a request: {shown}")


async def get(port: int, count: int, connections: int = 16) -> None:
    """``count`` GETs of /data.json over keep-alive ``connections``."""
    request = (
        f"GET /data.json HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in HEADERS.items())
        + "\r\n"
    ).encode()

    async def one_connection(requests: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(requests):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            assert length, head
            await reader.readexactly(int(length.group(1)))
        writer.close()

    await asyncio.gather(*(one_connection(count // connections) for _ in range(connections)))


def instructions(root: Path, sources: dict[str, Path], upstream: int, requests: int) -> None:
    for name, source in sources.items():
        port = free_port()
        out = root / f"callgrind-{name}.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        command += [sys.executable, "-c", NO_GC, "serve", "--port", str(port)]
        command += ["--upstream", f"http://127.0.0.1:{upstream}"]
        env = {
            **os.environ,
            "CONSENT_GATEWAY_SECRET": SECRET,
            "CONSENT_GATEWAY_DATABASE_URL": f"sqlite:///{root / f'consent-{port}.db'}",
            "PYTHONHASHSEED": "0",
        }
        with (root / f"callgrind-{name}.log").open("wb") as log:
            served = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=source)
            try:
                deadline = time.monotonic() + 300  # under valgrind, start-up takes a while
                while True:
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()
                        break
                    except OSError:
                        if served.poll() is not None or time.monotonic() > deadline:
                            raise RuntimeError("serve did not start under valgrind") from None
                        time.sleep(0.5)
                asyncio.run(get(port, 400))  # warm-up
                pid = str(served.pid)
                subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
                asyncio.run(get(port, requests))
                subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
            finally:
                served.terminate()
                served.wait(120)
        dump = min(root.glob(f"callgrind-{name}.out.*"))
        summary = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(), re.M)
        assert summary, dump
        print(f"{name}: {int(summary.group(1)) / requests:,.0f} instructions a request", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["cpu", "syscalls", "instructions"])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--source", type=Path, action="append", default=[])
    args = parser.parse_args()
    sources = {"gateway": ROOT, **{path.resolve().name: path.resolve() for path in args.source}}
    with tempfile.TemporaryDirectory() as temporary, ExitStack() as stack:
        root = Path(temporary)
        os.chmod(root, 0o755)
        (root / "site").mkdir()
        item = {"id": 1, "name": "consent", "tags": ["a", "b"], "pad": "x" * 940}
        (root / "site" / "data.json").write_text(json.dumps(item))
        upstream_port = free_port()
        upstream = stack.enter_context(nginx_worker(root, UPSTREAM_CONF, upstream_port))
        if args.mode == "instructions":
            instructions(root, sources, upstream_port, args.requests)
            return
        port = free_port()
        proxy = stack.enter_context(nginx_worker(root, PROXY_CONF, port, upstream=upstream_port))
        proxies = {"nginx": (port, proxy)}
        for name, source in sources.items():
            port = free_port()
            proxies[name] = (port, stack.enter_context(gateway(root, source, upstream_port, port)))
        for port, _ in proxies.values():
            wrk(port, 1)  # warm-up
        if args.mode == "cpu":
            cpu(proxies, upstream, args)
        else:
            syscalls(proxies, args)


if __name__ == "__main__":
    main()
