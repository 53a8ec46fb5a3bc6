"""Requests/s of an app behind ConsentMiddleware against the same app bare, in one run.

Both apps run under uvicorn (one worker each, uvloop + httptools when installed) on loopback;
wrk (Debian package `wrk`) loads them in alternating rounds so machine noise hits both alike.
With two cores or more, the servers are pinned to one core and wrk to another (`taskset`), so
the two never compete for a core. ``--together`` loads both servers at once instead, sharing
core 1: whatever else the machine does then slows both alike, and as the scheduler gives each
the same CPU time, the ratio of their requests/s is the ratio of their costs per request.
Scenarios:
  cookies  JSON response, 3 request cookies (session, _ga, a valid consent cookie), 2 Set-Cookie
  agents   the same with 10,000 distinct User-Agent strings rotating (bot check uncached)
  distinct every request from a new visitor: its own session id and _ga value, so no Cookie
           header and no session Set-Cookie repeats (nothing remembered per bytes helps)
``--consent-source cookieconsent`` runs the gateway with ``consent_source =
["cookieconsent"]`` and the visitor's choice in an "accept all" ``cc_cookie`` (as
vanilla-cookieconsent writes it) in place of the gateway's signed cookie; ``--consent-source
tcf`` with ``consent_source = ["tcf"]`` and an ``euconsent-v2`` TC string granting every
purpose, with 1,000 vendor consents in a bit field (``bench_tcf.tc_string``).

    python benchmarks/bench_middleware.py [--rounds 5] [--seconds 5] [--scenario cookies]
        [--consent-source gateway] [--together]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.apps import CC_COOKIE_ACCEPTED, accepted_consent_cookie  # noqa: E402
from benchmarks.bench_tcf import tc_string  # noqa: E402

LUA_ROTATE_AGENTS = """
local agents = {}
for line in io.lines("%s") do agents[#agents + 1] = line end
local i = 0
request = function()
  i = i %% #agents + 1
  wrk.headers["User-Agent"] = agents[i]
  return wrk.format("GET", "/")
end
"""

LUA_DISTINCT_VISITORS = """
local i = 0
request = function()
  i = i + 1
  wrk.headers["Cookie"] = string.format(
    "sessionid=%%016x; _ga=GA1.1.%%d.1700000000; %s", i, i)
  return wrk.format("GET", "/")
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(core: int) -> list[str]:
    """A command prefix that runs on ``core`` alone, when the machine allows it."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core)]
    return []


@contextmanager
def serve(target: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            *pinned(1),
            sys.executable,
            "-m",
            "uvicorn",
            target,
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(10)


def browser_agents(count: int) -> list[str]:
    """Distinct, realistic browser User-Agent strings."""
    rng = random.Random(7)
    templates = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/{a}.0.{b}.{c} Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/{a2}.{b2} Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:{a}.0) Gecko/20100101 Firefox/{a}.{b2}",
        "Mozilla/5.0 (iPhone; CPU iPhone OS {a2}_{b2} like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/{a2}.{b2} Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android {a2}; Pixel {b2}) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/{a}.0.{b}.{c} Mobile Safari/537.36",
    ]
    agents: set[str] = set()
    while len(agents) < count:
        agents.add(
            rng.choice(templates).format(
                a=rng.randint(90, 140),
                b=rng.randint(1000, 7000),
                c=rng.randint(0, 250),
                a2=rng.randint(10, 18),
                b2=rng.randint(0, 9),
            )
        )
    return sorted(agents)


BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def wrk(url: str, seconds: int, cookie: str, script: Path | None) -> float:
    """Requests/s of one wrk run; a browser's User-Agent unless the script rotates them."""
    return wrk_together([url], seconds, cookie, script)[0]


def wrk_together(urls: list[str], seconds: int, cookie: str, script: Path | None) -> list[float]:
    """Requests/s of one wrk per URL, all running at once (all on core 0)."""
    processes = []
    for url in urls:
        command = ["wrk", "-t1", "-c32", f"-d{seconds}s", "-H", f"Cookie: {cookie}"]
        command += ["-H", f"User-Agent: {BROWSER}", url]
        if script is not None:
            command[1:1] = ["-s", str(script)]
        command[:0] = pinned(0)
        processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
    rates = []
    for process in processes:
        output, _ = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"wrk failed ({process.returncode}): {output}")
        line = next(line for line in output.splitlines() if line.startswith("Requests/sec:"))
        rates.append(float(line.split()[1]))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--scenario", choices=["cookies", "agents", "distinct"], default="cookies")
    parser.add_argument(
        "--consent-source",
        choices=["gateway", "cookieconsent", "tcf"],
        default="gateway",
        help="where the visitor's choice is read: the gateway's cookie or a CMP's",
    )
    parser.add_argument(
        "--together",
        action="store_true",
        help="load both servers at once (sharing core 1) instead of in alternating rounds",
    )
    args = parser.parse_args()
    if args.consent_source == "cookieconsent":
        consent, target = f"cc_cookie={CC_COOKIE_ACCEPTED}", "benchmarks.apps:gateway_cookieconsent"
    elif args.consent_source == "tcf":
        consent, target = f"euconsent-v2={tc_string(ranged=False)}", "benchmarks.apps:gateway_tcf"
    else:
        consent, target = f"cg_consent={accepted_consent_cookie()}", "benchmarks.apps:gateway"
    cookie = f"sessionid=0123456789abcdef; _ga=GA1.1.1234567890.1700000000; {consent}"
    script = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.scenario == "distinct":
            script = Path(tmp) / "distinct.lua"
            script.write_text(LUA_DISTINCT_VISITORS % consent.replace("%", "%%"))
        if args.scenario == "agents":
            agents_file = Path(tmp) / "agents.txt"
            agents_file.write_text("\n".join(browser_agents(10_000)) + "\n")
            script = Path(tmp) / "agents.lua"
            script.write_text(LUA_ROTATE_AGENTS % agents_file)
        with serve("benchmarks.apps:bare") as bare_url, serve(target) as gw_url:
            for url in (bare_url, gw_url):
                wrk(url, 2, cookie, script)  # warm-up
            bare, gateway = [], []
            for round_number in range(args.rounds):
                if args.together:
                    rates = wrk_together([bare_url, gw_url], args.seconds, cookie, script)
                    bare.append(rates[0])
                    gateway.append(rates[1])
                else:
                    bare.append(wrk(bare_url, args.seconds, cookie, script))
                    gateway.append(wrk(gw_url, args.seconds, cookie, script))
                print(
                    f"round {round_number + 1}: bare {bare[-1]:.0f} req/s, "
                    f"gateway {gateway[-1]:.0f} req/s ({gateway[-1] / bare[-1]:.1%})"
                )
    ratio = statistics.median(g / b for g, b in zip(gateway, bare, strict=True))
    print(
        f"scenario {args.scenario} ({args.consent_source}): "
        f"median bare {statistics.median(bare):.0f} req/s, "
        f"gateway {statistics.median(gateway):.0f} req/s, median ratio {ratio:.1%}"
    )


if __name__ == "__main__":
    main()
