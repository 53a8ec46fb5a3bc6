"""TC strings decoded and mapped onto categories per second, one core.

A TC string with 1,000 vendor consents (and 1,000 legitimate interests, 1,000 disclosed
vendors, a few publisher restrictions), in the two encodings a CMP's encoder picks from: a
bit field (vendors spread over ids 1 to 1,200) and ranges (the same count in 50 runs over
ids 1 to 2,000: as many entries as keep ranges shorter than a bit field, so what an encoder
such as the IAB's, which picks the shorter, would write). Measured:
the TCF adapter's ``ConsentSource.read`` (what a request costs: the source's ``cmp_choices``
memo, keyed by the cookie values, answers a returning visitor), ``decode_tc_string`` +
``tcf_categories`` without the memo (a visitor's first request), and ``decode_tc_string``
alone. Best of the rounds; the load average is printed.

    python benchmarks/bench_tcf.py [--rounds 5] [--seconds 1]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.consent.adapters import build
from gateway.consent.tcf import decode_tc_string, load_tcf_table, tcf_categories

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _segment(bits: str) -> str:
    bits += "0" * (-len(bits) % 24)
    return "".join(_ALPHABET[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))


def _vendors(ids: list[int], ranged: bool) -> str:
    top = max(ids)
    if not ranged:
        wanted = set(ids)
        return (
            format(top, "016b")
            + "0"
            + "".join("1" if i in wanted else "0" for i in range(1, top + 1))
        )
    runs: list[list[int]] = []
    for vendor in sorted(ids):
        if runs and runs[-1][1] == vendor - 1:
            runs[-1][1] = vendor
        else:
            runs.append([vendor, vendor])
    entries = "".join(
        ("1" + format(a, "016b") + format(b, "016b")) if a != b else ("0" + format(a, "016b"))
        for a, b in runs
    )
    return format(top, "016b") + "1" + format(len(runs), "012b") + entries


def tc_string(ranged: bool, seed: int = 19) -> str:
    """A TCF v2.2 string with 1,000 vendors per section, encoded as asked."""
    rng = random.Random(seed)
    if ranged:  # 50 runs of 20 vendors, one every 40 ids (each run placed at random in it)
        offsets = [start + rng.randrange(21) for start in range(1, 2001, 40)]
        ids = [offset + k for offset in offsets for k in range(20)]
    else:
        ids = sorted(rng.sample(range(1, 1201), 1000))
    header = (
        format(2, "06b")
        + format(17_650_000_000, "036b") * 2
        + format(300, "012b")
        + format(5, "012b")
        + format(1, "06b")
        + "000100001101"  # EN
        + format(142, "012b")
        + format(5, "06b")
        + "00"
        + "110000000000"
        + "11111111111"
        + "0" * 13
        + "01100000011"
        + "0" * 13
        + "0"
        + "000011000101"  # DE
    )
    restriction = "000010" + "01" + format(2, "012b") + "0" + format(7, "016b")
    restriction += "1" + format(20, "016b") + format(30, "016b")
    core = header + _vendors(ids, ranged) + _vendors(ids, ranged)
    core += format(1, "012b") + restriction
    disclosed = "001" + _vendors(ids, ranged)
    return _segment(core) + "." + _segment(disclosed)


def rate(work: Callable[[], object], seconds: float, rounds: int) -> float:
    """Calls a second, best of ``rounds``."""
    best = 0.0
    for _ in range(rounds):
        count, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            for _ in range(100):
                work()
            count += 100
        best = max(best, count / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    options = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    table = load_tcf_table()
    for name, ranged in (("bit field", False), ("ranges", True)):
        string = tc_string(ranged)
        tc = decode_tc_string(string)
        assert len(tc.vendor_consents) == 1000 and tc.vendor_consents.ranged == ranged
        source = build(["tcf"], {})  # as the gateway builds it for consent_source = ["tcf"]
        values = source.values([("euconsent-v2", string)])
        reading = source.read(values)
        assert reading.granted is not None and not reading.invalid
        memo = rate(lambda v=values, r=source.read: r(v), options.seconds, options.rounds)
        fresh = rate(
            lambda s=string: tcf_categories(decode_tc_string(s), table),
            options.seconds,
            options.rounds,
        )
        raw = rate(lambda s=string: decode_tc_string(s), options.seconds, options.rounds)
        print(
            f"{name:9} ({len(string):4} chars): remembered {memo:12,.0f}/s   "
            f"decode+map {fresh:9,.0f}/s   decode {raw:9,.0f}/s"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
