"""Cookie classifier look-ups per second over the full built-in rule set, one core.

Exact: names that hit exact rules (memo defeated by a fresh classifier per pass is not
needed: exact hits are one dict probe). Mixed: 100,000 distinct names (exact hits, prefix hits
with random suffixes, pattern hits, unknown names) on a classifier whose memo is off, so every
look-up does the real work. Baseline: plain dict.get in the same process.

    python benchmarks/bench_classifier.py
"""

from __future__ import annotations

import random
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.resources import rules_dir
from gateway.rules import Classifier, MatchKind, load_rule_files


def per_second(function: object, names: list[str], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for name in names:
            function(name)  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return len(names) / best


def main() -> None:
    rules = load_rule_files(rules_dir() / "cookies")
    rng = random.Random(1)
    first_party = [r for r in rules if r.domain is None]
    exact = [r.name for r in first_party if r.match is MatchKind.EXACT]
    prefixes = [r.name for r in first_party if r.match is MatchKind.PREFIX]
    suffix = lambda: "".join(rng.choices(string.ascii_letters + string.digits, k=10))  # noqa: E731
    mixed = []
    for index in range(100_000):
        kind = index % 4
        if kind == 0:
            mixed.append(rng.choice(exact))
        elif kind == 1:
            mixed.append(rng.choice(prefixes) + suffix())
        elif kind == 2:
            mixed.append(f"_gat_gtag_UA_{rng.randint(1, 10**8)}_{rng.randint(1, 99)}")
        else:
            mixed.append("site_" + suffix())
    exact_names = [rng.choice(exact) for _ in range(200_000)]
    table = {name: True for name in exact}
    memoised = Classifier(rules)
    uncached = Classifier(rules, cache_size=0)
    baseline = per_second(table.get, exact_names)
    exact_rate = per_second(memoised.classify, exact_names)
    mixed_rate = per_second(uncached._lookup, mixed)  # the real work, no memo
    print(f"rules: {len(rules)} ({len(exact)} exact, {len(prefixes)} prefix first-party)")
    print(f"baseline dict.get:       {baseline:>12,.0f} /s")
    print(
        f"exact look-ups:          {exact_rate:>12,.0f} /s"
        f"  ({exact_rate / baseline:.1%} of dict.get)"
    )
    print(
        f"mixed look-ups, no memo: {mixed_rate:>12,.0f} /s"
        f"  ({mixed_rate / baseline:.1%} of dict.get)"
    )


if __name__ == "__main__":
    main()
