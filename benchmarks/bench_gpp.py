"""GPP strings decoded and mapped to categories per second, on one core.

The strings are 1,000 the IAB's library writes for random choices (``tests/support/gpp.py``:
usnat versions 1 and 2 with and without GPC, uspv1, both, and with sections the gateway does
not read), so Node and ``npm ci --prefix tests/js`` are needed. Measured:

(a) raw: ``decode_gpp`` then ``gpp_categories`` for every string, no memo;
(b) memo, steady: through a ``gateway.memo.Memo`` keyed by the string, as the gateway's other
    per-request caches are (the 1,000 strings repeat: every look-up a hit);
(c) memo, strings new: the same with a memo of 64 entries over the strings in turn (nearly
    every look-up a miss, a clear every 64; only uspv1-only strings, 27 values, repeat).

Each figure is printed with its ratio to plain ``dict.get`` over the same strings in the same
process, because the machines here are noisy, and with the load average.

    .venv/bin/python benchmarks/bench_gpp.py [--strings 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.consent.gpp import GppError, GppMapping, decode_gpp, gpp_categories
from gateway.consent.state import Category
from gateway.memo import Memo
from tests.support.gpp import library_strings

Answer = frozenset[Category] | None


def per_second(work: Callable[[str], object], strings: list[str], repeat: int = 5) -> float:
    """Best of ``repeat`` passes; ``map`` keeps the loop's own cost small and equal for all."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        deque(map(work, strings), maxlen=0)
        best = min(best, time.perf_counter() - start)
    return len(strings) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--strings", type=int, default=1000)
    args = parser.parse_args()
    strings = [case["string"] for case in library_strings(2026, args.strings)]
    mapping = GppMapping.load()

    def raw(value: str) -> Answer:
        try:
            return gpp_categories(decode_gpp(value), mapping)
        except GppError:
            return None

    def through(memo: Memo[str, Answer]) -> Callable[[str], Answer]:
        table, miss = memo.table, object()

        def lookup(value: str) -> Answer:
            answer = table.get(value, miss)
            if answer is not miss:
                memo.hits += 1
                return answer  # type: ignore[return-value]
            return memo.put(value, raw(value), len(value))

        return lookup

    plain = dict.fromkeys(strings)
    baseline = per_second(plain.get, strings)
    steady: Memo[str, Answer] = Memo("gpp", 4096, 4 * 1024 * 1024, 16 * 1024)
    every_new: Memo[str, Answer] = Memo("gpp", 64, 4 * 1024 * 1024, 16 * 1024)
    figures = {
        "raw (decode + map)": per_second(raw, strings),
        "memo, steady (hits)": per_second(through(steady), strings),
        "memo, every string new (misses)": per_second(through(every_new), strings),
    }
    lengths = sorted(len(s) for s in strings)
    distinct = len(set(strings))
    print(f"{len(strings)} strings ({distinct} distinct), {lengths[0]}-{lengths[-1]} characters")
    print(f"load average {os.getloadavg()[0]:.2f}; dict.get {baseline:,.0f}/s")
    for name, rate in figures.items():
        print(
            f"{name:34} {rate:>12,.0f}/s  {1e6 / rate:6.2f} µs  {rate / baseline:6.1%} of dict.get"
        )
    print(
        f"memo counts: steady hits {steady.hits:,}, misses {steady.misses:,}; "
        f"every new: misses {every_new.misses:,}, evictions {every_new.evictions:,}"
    )


if __name__ == "__main__":
    main()
