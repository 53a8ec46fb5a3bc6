"""Requests/s of a 50 KB gzip-encoded HTML page behind ConsentMiddleware (banner injection on)
against the same app bare, in one run; and the memory a 50 MB streamed page costs.

Servers and wrk as in bench_middleware.py (uvicorn, one worker; servers pinned to core 1,
wrk to core 0; alternating rounds). Requests carry a valid "accept all" consent cookie (so no
tracker scan) and ``Accept-Encoding: gzip``. Scenarios:
  repeated   the same page bytes every request: the page memo answers after the first
  no-injection  for scale: the same page through the gateway with injection off
  distinct   1,500 pages that differ by a token, in turn: every request decodes, rewrites
             and re-encodes (no memo help)
  starlette  for comparison: the uncompressed page behind Starlette's GZipMiddleware, against
             the bare app sending it already compressed
  memory     peak memory while a 50 MB page streams (64 KB chunks), identity and gzip:
             Python allocations (tracemalloc) in process, and the server's peak RSS
  in-process the apps called directly, without a server (best of 5): microseconds a request,
             and the rewriter alone on the 50 KB page (banner only; full tracker scan)

  --against MODULE:APP  the bare app against any uvicorn target, such as the gateways of
             benchmarks/html_ablation.py with some steps replaced by constants

    python benchmarks/bench_html.py [--rounds 5] [--seconds 5] [--scenario repeated] [--together]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.apps import accepted_consent_cookie  # noqa: E402
from benchmarks.bench_middleware import serve, wrk, wrk_together  # noqa: E402

LUA_GZIP = 'wrk.headers["Accept-Encoding"] = "gzip"\n'
PAIRS = {
    "repeated": ("benchmarks.html_apps:bare", "benchmarks.html_apps:gateway"),
    "no-injection": ("benchmarks.html_apps:bare", "benchmarks.html_apps:gateway_no_injection"),
    "distinct": ("benchmarks.html_apps:bare_distinct", "benchmarks.html_apps:gateway_distinct"),
    "starlette": ("benchmarks.html_apps:bare", "benchmarks.html_apps:starlette_gzip"),
}


def warm(url: str, cookie: str) -> None:
    """One request with a long timeout: some apps build their pages on first use."""
    request = urllib.request.Request(url, headers={"Cookie": cookie, "Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()


def throughput(scenario: str, rounds: int, seconds: int, together: bool) -> None:
    """Alternating wrk rounds; per round also the server's CPU time per request, which other
    load on a shared machine disturbs far less than requests/s. ``together``: both servers
    under load at once instead, sharing core 1, so whatever else the machine does slows both
    alike; the scheduler gives each the same CPU time, and the ratio of their requests/s is
    the ratio of their costs."""
    cookie = f"cg_consent={accepted_consent_cookie()}"
    bare_target, other_target = PAIRS[scenario]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "gzip.lua"
        script.write_text(LUA_GZIP)
        with serve(bare_target) as bare_url, serve(other_target) as other_url:
            servers = {bare_url: _status_of(bare_url), other_url: _status_of(other_url)}
            for url in servers:
                warm(url, cookie)
                wrk(url, 2, cookie, script)
            rates: dict[str, list[float]] = {bare_url: [], other_url: []}
            costs: dict[str, list[float]] = {bare_url: [], other_url: []}

            def measure(url: str) -> None:
                before = _cpu_seconds(servers[url])
                rate = wrk(url, seconds, cookie, script)
                rates[url].append(rate)
                costs[url].append((_cpu_seconds(servers[url]) - before) / (rate * seconds) * 1e6)

            def measure_together() -> None:
                before = {url: _cpu_seconds(status) for url, status in servers.items()}
                found = wrk_together([bare_url, other_url], seconds, cookie, script)
                for url, rate in zip((bare_url, other_url), found, strict=True):
                    rates[url].append(rate)
                    spent = _cpu_seconds(servers[url]) - before[url]
                    costs[url].append(spent / (rate * seconds) * 1e6)

            for round_number in range(rounds):
                if together:
                    measure_together()
                else:
                    measure(bare_url)
                    measure(other_url)
                print(
                    f"round {round_number + 1}: bare {rates[bare_url][-1]:.0f} req/s "
                    f"({costs[bare_url][-1]:.1f} us CPU a request), {scenario} "
                    f"{rates[other_url][-1]:.0f} req/s ({costs[other_url][-1]:.1f} us): "
                    f"{rates[other_url][-1] / rates[bare_url][-1]:.1%} of the requests/s"
                )
    bare, other = rates[bare_url], rates[other_url]
    ratios = sorted(o / b for o, b in zip(other, bare, strict=True))
    bare_cost, other_cost = statistics.median(costs[bare_url]), statistics.median(costs[other_url])
    print(
        f"scenario {scenario}: median bare {statistics.median(bare):.0f} req/s, "
        f"{scenario} {statistics.median(other):.0f} req/s, "
        f"median ratio {statistics.median(ratios):.1%} ({ratios[0]:.1%}-{ratios[-1]:.1%}); "
        f"CPU a request: bare {bare_cost:.1f} us, {scenario} {other_cost:.1f} us, "
        f"ratio {bare_cost / other_cost:.1%}"
    )


def _cpu_seconds(status: Path) -> float:
    """User + system CPU time of the process whose /proc status file this is."""
    fields = (status.parent / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def get_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The ASGI scope of a GET of ``path`` with these request headers."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }


async def stream_in_process(app: Any, path: str) -> int:
    """Drive ``app`` for one GET of ``path``; the client drops each chunk as it arrives."""
    received = 0
    scope = get_scope(path, [(b"host", b"localhost"), (b"accept-encoding", b"gzip")])

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)  # the client never sends more, nor disconnects
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal received
        received += len(message.get("body", b""))

    await app(scope, receive, send)
    return received


class KeepEverything:
    """A tracker hook that replaces nothing: the full-document scan, without rules."""

    def start_tag(self, tag: Any, granted: Any) -> bytes | None:
        return None

    def inline_script(self, tag: Any, text: bytes, granted: Any) -> bytes | None:
        return None


def python_peak(app: Any, path: str) -> tuple[float, int, float]:
    """Peak Python allocations (MB) above what was allocated before the response, bytes out,
    and seconds taken without tracemalloc."""
    asyncio.run(stream_in_process(app, path))  # warm: imports, compiled patterns, memo
    started = time.perf_counter()
    asyncio.run(stream_in_process(app, path))
    seconds = time.perf_counter() - started
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    received = asyncio.run(stream_in_process(app, path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - before) / 2**20, received, seconds


def server_peak_rss(target: str, path: str) -> tuple[float, float]:
    """(peak RSS before, growth while streaming the page), in MB, of a uvicorn server."""
    with serve(target) as url:
        status = _status_of(url)
        warm(url + "small", "")  # everything imported and built once
        before = _peak_rss(status)
        request = urllib.request.Request(
            url + path.lstrip("/"), headers={"Accept-Encoding": "gzip"}
        )
        with urllib.request.urlopen(request, timeout=300) as response:
            while response.read(256 * 1024):
                pass
        after = _peak_rss(status)
    return before, after - before


def _status_of(url: str) -> Path:
    """The /proc status file of the uvicorn serving ``url`` (found by its command line)."""
    port = url.rstrip("/").rsplit(":", 1)[1]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"uvicorn" in words and port.encode() in words:
            return cmdline.parent / "status"
    raise RuntimeError(f"no uvicorn process on port {port}")


def _peak_rss(status: Path) -> float:
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def in_process() -> None:
    from benchmarks import html_apps
    from benchmarks.bench_middleware import BROWSER
    from gateway.html.rewriter import HtmlRewriter

    cookie = f"cg_consent={accepted_consent_cookie()}".encode()
    headers = [
        (b"host", b"localhost:8000"),
        (b"user-agent", BROWSER.encode()),
        (b"accept", b"text/html"),
        (b"accept-encoding", b"gzip"),
        (b"cookie", cookie),
    ]

    async def requests(app: Any, count: int) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            pass

        for _ in range(count):
            await app(get_scope("/", list(headers)), receive, send)

    def best(app: Any, count: int) -> float:
        asyncio.run(requests(app, count // 10))
        times = []
        for _ in range(5):
            started = time.perf_counter()
            asyncio.run(requests(app, count))
            times.append((time.perf_counter() - started) / count * 1e6)
        return min(times)

    html_apps.distinct_pages()
    for name, count in [
        ("bare", 5000),
        ("gateway_no_injection", 5000),
        ("gateway", 5000),
        ("bare_distinct", 5000),
        ("gateway_distinct", 500),
        ("starlette_gzip", 200),
    ]:
        print(f"{name}: {best(getattr(html_apps, name), count):.1f} us a request")
    for label, hook in (("banner only", None), ("full tracker scan", KeepEverything())):
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(200):
                rewriter = HtmlRewriter(b"<link>", trackers=hook)
                rewriter.feed(html_apps.PAGE)
                rewriter.finish()
            runs.append((time.perf_counter() - started) / 200 * 1e6)
        print(f"rewriter, {label}: {min(runs):.0f} us for the {len(html_apps.PAGE)} byte page")


def memory() -> None:
    from benchmarks import html_apps
    from gateway import ConsentMiddleware

    scanning = ConsentMiddleware(
        html_apps.big_bare, html_apps.big_gateway.settings, trackers=KeepEverything()
    )
    apps = [("bare", html_apps.big_bare), ("gateway", html_apps.big_gateway)]
    apps.append(("gateway + tracker scan", scanning))
    for label, path in (("identity", "/"), ("gzip", "/gzip")):
        for name, app in apps:
            peak, size, seconds = python_peak(app, path)
            print(
                f"{label}, {name}: {size / 2**20:.1f} MB out in {seconds:.2f} s; "
                f"peak Python allocations +{peak:.2f} MB"
            )
    for label, path in (("identity", "/"), ("gzip", "/gzip")):
        for target in ("benchmarks.html_apps:big_bare", "benchmarks.html_apps:big_gateway"):
            before, growth = server_peak_rss(target, path)
            name = target.rsplit(":", 1)[1]
            print(f"{label}: {name} server peak RSS {before:.1f} MB, +{growth:.1f} MB streaming")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--scenario", choices=[*PAIRS, "memory", "in-process"], default="repeated")
    parser.add_argument(
        "--together", action="store_true", help="load both servers at once (see throughput)"
    )
    parser.add_argument(
        "--against",
        metavar="MODULE:APP",
        help="the bare app against this uvicorn target instead (benchmarks/html_ablation.py)",
    )
    args = parser.parse_args()
    if args.against:
        PAIRS[args.against] = ("benchmarks.html_apps:bare", args.against)
        args.scenario = args.against
    started = time.monotonic()
    if args.scenario == "memory":
        memory()
    elif args.scenario == "in-process":
        in_process()
    else:
        throughput(args.scenario, args.rounds, args.seconds, args.together)
    print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
