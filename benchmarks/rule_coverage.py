"""How well the built-in cookie rules classify real cookie names, by their vendors' own words.

    python benchmarks/rule_coverage.py [--unclassified]

Reads ``tests/data/vendor-cookies.csv`` (a name per row, the category its vendor's
documentation gives and the page that says so) and prints the share of names the built-in
rules classify, the share classified into the vendor's category, and every name classified
into another category. ``--unclassified`` also lists the names no rule knows.
"""

from __future__ import annotations

import argparse

from tests.support.rule_coverage import SAMPLE, load, measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--unclassified", action="store_true", help="list the unknown names")
    args = parser.parse_args()
    samples = load()
    coverage = measure(samples)
    vendors = len({sample.vendor for sample in samples})
    print(f"{coverage.total} names from {vendors} vendors ({SAMPLE.name})")
    print(f"classified:       {coverage.classified:4} ({coverage.classified / coverage.total:.1%})")
    print(f"classified right: {coverage.right:4} ({coverage.right / coverage.total:.1%})")
    for sample, category in coverage.wrong:
        expected = "|".join(sorted(sample.categories))
        print(f"  wrong: {sample.name} is {category.value}, {sample.vendor} says {expected}")
    if args.unclassified:
        for sample in coverage.unclassified:
            print(f"  unclassified: {sample.name} ({sample.vendor})")


if __name__ == "__main__":
    main()
