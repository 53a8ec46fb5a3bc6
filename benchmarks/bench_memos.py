"""What each memo saves, in instructions a request (callgrind): each memo off in turn.

For each scenario, one gateway serves phases of ``--requests`` requests in process under
callgrind, the counts zeroed before and dumped after each phase (a 3-line C helper built
with ``cc`` makes the client requests). Phases alternate: all memos on, one memo the
scenario uses off (``Memo.disable``: it files nothing, every look-up misses; with
``Gateway.clear_memos``, so nothing in front of it answers instead), all on again, the next
memo off... The all-on phases give the A/A spread: what the phase alone moves (the same
code, other memory, other keys); the cyclic garbage collector is off during each phase.
A memo whose gain is within that spread saves nothing measurable in that scenario.

Scenarios (request headers are new bytes every request, as a server parses them):
  page      the repeated 50 KB gzip page (benchmarks.html_apps), a returning visitor with
            an "accept all" consent cookie
  sessions  the same page setting a new session id per response, every request a new
            visitor without a consent choice (its own session id and _ga): nothing repeats
            but the page
  csp       the same with a Content-Security-Policy header (the same on every response)
  trackers  1,500 distinct gzip pages in turn, a visitor without consent (full tracker scan)
  cookies   the JSON endpoint of benchmarks.apps (sets sessionid and _ga), the same visitor
  visitors  the same endpoint, every request a new visitor (own sessionid and _ga)
  agents    the same endpoint, 10,000 browser User-Agents rotating
  collect   Plausible pageviews to the collect endpoint (ingest without the outbox
            commit): 200 pages with campaign parameters, 100 browser User-Agents
            rotating, User-Agents reduced
  clicks    the same, each pageview with a click id of its own (no URL repeats)

    python benchmarks/bench_memos.py [--scenarios page,cookies] [--requests 400] [--seeds 0]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from benchmarks import apps, collect_apps, html_apps
from benchmarks.bench_html import get_scope
from benchmarks.bench_middleware import BROWSER, browser_agents
from gateway import ConsentMiddleware, Settings
from gateway.memo import Memo

Headers = list[tuple[bytes, bytes]]
NO_BODY = itertools.repeat(b"")


def _headers(cookie: str | None, agent: str = BROWSER) -> Headers:
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", agent.encode()),
        (b"accept", b"*/*"),
        (b"accept-encoding", b"gzip"),
    ]
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return headers


COLLECT = "/_consent/collect/plausible/api/event"


def _hit(number: int, clicks: bool = False) -> bytes:
    """A Plausible pageview of one of 200 pages with campaign parameters, and with
    ``clicks`` a click id of its own (every URL new)."""
    click = number if clicks else number % 200
    url = f"https://shop.example/products/{number % 200}?utm_source=news&gclid=Cj0{click}"
    referrer = "https://www.google.com/search?q=shoes"
    return f'{{"n":"pageview","v":36,"u":"{url}","d":"shop.example","r":"{referrer}"}}'.encode()


_SESSIONS = itertools.count()


CSP = (
    "default-src 'self'; script-src 'self' https://www.googletagmanager.com "
    "https://cdn.shop.example; style-src 'self' 'unsafe-inline'; img-src * data:; "
    "connect-src 'self' https://www.google-analytics.com; frame-ancestors 'none'"
)


async def _page_with_session(request: Request) -> Response:
    """The repeated gzip page, setting a new session id on each response (a sign-in)."""
    response = await html_apps._page_gzip(request)
    response.set_cookie("sessionid", f"{next(_SESSIONS):032x}", httponly=True)
    return response


async def _page_with_session_and_csp(request: Request) -> Response:
    """The same with a Content-Security-Policy, the same on every response."""
    response = await _page_with_session(request)
    response.headers["content-security-policy"] = CSP
    return response


async def _discard(hits: object) -> None:
    """The outbox commit, left out: the same with or without any memo, and its thread and
    disk make the counts of a phase move by a third."""


def scenario(name: str) -> tuple[ConsentMiddleware, Iterator[Headers], str, Iterator[bytes]]:
    """The app of scenario ``name`` (a fresh gateway), its endless requests' headers, the
    path they go to and their bodies (empty: a GET)."""
    consent = f"cg_consent={apps.accepted_consent_cookie()}"
    if name in ("collect", "clicks"):
        analytics = {
            "plausible": {"upstream": "http://127.0.0.1:9"},
            "forwarder": "separate",  # nothing is sent: ingest only
            "reduce_user_agent": True,
        }
        settings = Settings.load(
            environ={},
            secret=apps.SECRET,
            database_url=f"sqlite:///{tempfile.mkdtemp()}/collect.sqlite3",
            analytics=analytics,
        )
        agents = itertools.cycle(browser_agents(100))
        hits = (_hit(number, name == "clicks") for number in itertools.count())
        heads = (
            [*_headers(None, next(agents)), (b"content-type", b"text/plain")]
            for _ in itertools.count()
        )
        app = ConsentMiddleware(collect_apps._not_reached, settings)
        assert app.gateway.collector is not None
        app.gateway.collector.writer.add = _discard  # type: ignore[method-assign]
        return app, heads, COLLECT, hits
    if name == "page":
        app = ConsentMiddleware(
            Starlette(routes=[Route("/", html_apps._page_gzip)]), html_apps._settings()
        )
        return app, itertools.repeat(_headers(consent)), "/", NO_BODY
    if name in ("sessions", "csp"):
        endpoint = _page_with_session if name == "sessions" else _page_with_session_and_csp
        app = ConsentMiddleware(Starlette(routes=[Route("/", endpoint)]), html_apps._settings())
        visitors = (
            _headers(f"sessionid={n:032x}; _ga=GA1.1.{n}.1700000000") for n in itertools.count()
        )
        return app, visitors, "/", NO_BODY
    if name == "trackers":
        html_apps.distinct_pages()
        app = ConsentMiddleware(
            Starlette(routes=[Route("/", html_apps._distinct_gzip)]), html_apps._settings()
        )
        return app, itertools.repeat(_headers(None)), "/", NO_BODY
    app = ConsentMiddleware(Starlette(routes=[Route("/", apps.page)]), apps.settings)
    same = f"sessionid=0123456789abcdef; _ga=GA1.1.1234567890.1700000000; {consent}"
    if name == "cookies":
        return app, itertools.repeat(_headers(same)), "/", NO_BODY
    if name == "visitors":
        visitors = (
            _headers(f"sessionid={n:016x}; _ga=GA1.1.{n}.1700000000; {consent}")
            for n in itertools.count()
        )
        return app, visitors, "/", NO_BODY
    if name == "agents":
        agents = browser_agents(10_000)
        return app, (_headers(same, agent) for agent in itertools.cycle(agents)), "/", NO_BODY
    raise SystemExit(f"unknown scenario {name}")


HELPER = """
#include <valgrind/callgrind.h>
void cg_zero(void) { CALLGRIND_ZERO_STATS; }
void cg_dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
"""


def fresh(
    requests: Iterator[Headers], bodies: Iterator[bytes], count: int
) -> list[tuple[Headers, bytes]]:
    """The next ``count`` requests' headers as new bytes (as a server parses them), and
    their bodies."""
    return [
        ([(bytes(bytearray(n)), bytes(bytearray(v))) for n, v in next(requests)], next(bodies))
        for _ in range(count)
    ]


async def serve(app: Any, batch: list[tuple[Headers, bytes]], path: str) -> None:
    """One request of ``path`` through ``app`` for each (headers, body) of ``batch`` (a GET
    without a body, else a POST), in process."""

    async def send(message: dict[str, Any]) -> None:
        pass

    for headers, body in batch:

        async def receive(body: bytes = body) -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        scope = get_scope(path, headers)
        scope["state"] = {}
        if body:
            scope["method"] = "POST"
        await app(scope, receive, send)


def drive(name: str, count: int, helper: str, only: str) -> None:
    """Under callgrind: the phases of scenario ``name``, each ``count`` requests between a
    zeroing and a dump of the counts (named after the phase): all memos on, then each used
    memo off, with an all-on phase between any two (the A/A spread)."""
    cg = ctypes.CDLL(helper)
    loop = asyncio.new_event_loop()
    app, requests, path, bodies = scenario(name)
    memos: dict[str, list[Memo[Any, Any]]] = app.gateway.memos
    # Settling refills the memos after a clear: in collect, every page and User-Agent.
    warm = max(count, 200) if name in ("collect", "clicks") else max(count // 10, 10)
    loop.run_until_complete(serve(app, fresh(requests, bodies, warm), path))
    used = [key for key, group in memos.items() if sum(m.hits + m.misses for m in group)]
    if only != "all":  # "none": all-on phases only (to compare two versions of the code)
        used = [key for key in used if key in only.split(",")]

    def phase(label: str) -> None:
        loop.run_until_complete(serve(app, fresh(requests, bodies, warm), path))  # settle (refill)
        batch = fresh(requests, bodies, count)
        gc.collect()
        gc.disable()  # a collection now and then, in one phase and not the next, is noise
        cg.cg_zero()
        loop.run_until_complete(serve(app, batch, path))
        cg.cg_dump(label.encode())
        gc.enable()

    phase("on")
    if not used:
        for _ in range(4):
            phase("on")
    for key in used:
        group = memos[key]
        bounds = [memo.max_entries for memo in group]
        for memo in group:
            memo.disable()
        app.gateway.clear_memos()  # and what the memos stand behind (the last plan, page)
        phase(f"off:{key}")
        for memo, bound in zip(group, bounds, strict=True):
            memo.max_entries = bound
        app.gateway.clear_memos()
        phase("on")


def instructions(
    name: str, count: int, seed: int, tmp: Path, only: str = "all"
) -> dict[str, list[float]]:
    """Instructions a request by phase label, from one callgrind run of ``drive``."""
    helper = tmp / "cg.so"
    if not helper.exists():
        (tmp / "cg.c").write_text(HELPER)
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", helper, tmp / "cg.c"], check=True)
    out = tmp / f"{name}.{seed}.out"
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    command += [sys.executable, __file__, "--drive", name, str(count), str(helper), only]
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    found: dict[str, list[float]] = {}
    for dump in sorted(tmp.glob(f"{name}.{seed}.out.*"), key=lambda p: int(p.suffix[1:])):
        text = dump.read_text()
        label = re.search(r"^desc: Trigger: Client Request: (.*)$", text, re.M)
        total = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        if label and total:
            found.setdefault(label.group(1), []).append(int(total.group(1)) / count)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenarios", default="page,sessions,csp,trackers,cookies,visitors,agents,collect,clicks"
    )
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--memos", default="all", help="memos to turn off: all, none, or names")
    parser.add_argument("--drive", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        drive(args.drive[0], int(args.drive[1]), args.drive[2], args.drive[3])
        return
    if shutil.which("valgrind") is None or shutil.which("cc") is None:
        raise SystemExit("valgrind (with its headers) and a C compiler are needed")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.scenarios.split(","):
            count = args.requests if name != "trackers" else max(args.requests // 20, 10)
            phases: dict[str, list[float]] = {}
            for seed in args.seeds.split(","):
                for label, costs in instructions(
                    name, count, int(seed), Path(tmp), args.memos
                ).items():
                    phases.setdefault(label, []).extend(costs)
            first, *on = phases.pop("on")  # the first does one-time work (salts, imports)
            base = statistics.median(on)
            spread = (max(on) - min(on)) / base
            print(f"\n{name}: {base:,.0f} instructions a request with every memo on")
            print(f"  A/A (all on, {len(on)} phases)  spread {spread:.2%}")
            print(f"  all on: {first:,.0f} (first), " + ", ".join(f"{cost:,.0f}" for cost in on))
            for label, costs in phases.items():
                cost = statistics.median(costs)
                print(
                    f"  {label.removeprefix('off:'):<20} off: {cost:>12,.0f}  "
                    f"gain of the memo {(cost - base) / base:+7.2%}  ({cost - base:+,.0f})"
                )


if __name__ == "__main__":
    main()
