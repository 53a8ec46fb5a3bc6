"""Cookie parsing calls per second, against a bare ``str.split(';')`` in the same process.

The middleware splits and filters the request ``Cookie`` header on every request and reads
the name of every ``Set-Cookie`` the app sends, so these are the per-request costs. The
request header carries three cookies (a session, ``_ga``, a consent cookie); the responses
are typical ``Set-Cookie`` values, some of which take the full-parse path of
``set_cookie_name`` (a prefixed name, ``SameSite=None``).

    python benchmarks/bench_cookies.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.cookies.parse import (
    filter_cookie_header,
    filter_cookie_pieces,
    parse_cookie_header,
    parse_set_cookie,
    set_cookie_name,
    split_cookie_header,
)

CALLS = 50_000
REPEAT = 5
COOKIE_HEADER = (
    "sessionid=8f14e45fceea167a5a36dedd4bea2543; _ga=GA1.1.1234567890.1700000000; "
    "cg_consent=0b6c3c8e.7.eyJjIjpbImEiLCJwIl19.ZmF1eA"
)
REFUSED = frozenset({"_ga"})
BASELINE_LABEL = "baseline: header.split(';')"
SET_COOKIES = {
    "session (Path, HttpOnly, Lax)": (
        "sessionid=8f14e45fceea167a5a36dedd4bea2543; Path=/; HttpOnly; SameSite=Lax"
    ),
    "_ga (Domain, Max-Age)": (
        "_ga=GA1.1.1234567890.1700000000; Max-Age=63072000; Domain=.example.com; Path=/; "
        "SameSite=Lax"
    ),
    "__Host- prefixed (full parse)": (
        "__Host-csrf=Zm9vYmFyYmF6; Path=/; Secure; HttpOnly; SameSite=Strict"
    ),
    "_fbp, SameSite=None (full parse)": (
        "_fbp=fb.1.1700000000000.123456789; Expires=Sat, 01 Feb 2031 00:00:00 GMT; "
        "Max-Age=7776000; Domain=.example.com; Path=/; SameSite=None; Secure"
    ),
}


def per_second(call: Callable[[], object], calls: int = CALLS, repeat: int = REPEAT) -> float:
    """Best rate over ``repeat`` timed loops of ``calls`` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        best = min(best, time.perf_counter() - start)
    return calls / best


def keep(name: str) -> bool:
    return name not in REFUSED


def main() -> None:
    pieces = split_cookie_header(COOKIE_HEADER)
    rows: list[tuple[str, Callable[[], object]]] = [
        ("parse_cookie_header (3 cookies)", lambda: parse_cookie_header(COOKIE_HEADER)),
        (
            "filter_cookie_header, nothing refused",
            lambda: filter_cookie_header(COOKIE_HEADER, bool),
        ),
        ("filter_cookie_header, _ga refused", lambda: filter_cookie_header(COOKIE_HEADER, keep)),
        (
            "parse + filter (_ga refused)",
            lambda: (parse_cookie_header(COOKIE_HEADER), filter_cookie_header(COOKIE_HEADER, keep)),
        ),
        (
            "middleware: split once + filter pieces",
            lambda: filter_cookie_pieces(COOKIE_HEADER, split_cookie_header(COOKIE_HEADER), keep),
        ),
        ("filter_cookie_pieces alone", lambda: filter_cookie_pieces(COOKIE_HEADER, pieces, keep)),
    ]
    for label, header in SET_COOKIES.items():
        assert set_cookie_name(header) is not None, header
        rows.append((f"set_cookie_name: {label}", partial(set_cookie_name, header)))
    for label, header in SET_COOKIES.items():
        rows.append((f"parse_set_cookie: {label}", partial(parse_set_cookie, header)))

    rates = [(name, per_second(call)) for name, call in rows]
    # Measured last, once the CPU has ramped up, as the other benchmarks do.
    baseline = per_second(lambda: COOKIE_HEADER.split(";"), repeat=REPEAT * 3)
    print(
        f"Cookie header: {len(COOKIE_HEADER)} characters, 3 cookies; best of {REPEAT} x {CALLS:,}"
    )
    print(f"{BASELINE_LABEL:48} {baseline:>12,.0f} calls/s")
    for name, rate in rates:
        print(
            f"{name:48} {rate:>12,.0f} calls/s  {1e6 / rate:6.2f} us/call  "
            f"{rate / baseline:7.2%} of baseline"
        )


if __name__ == "__main__":
    main()
