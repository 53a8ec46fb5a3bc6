"""How well the built-in cookie rules classify real cookie names, by their vendors' own words.

    python benchmarks/rule_coverage.py [--unclassified]

Reads ``tests/data/vendor-cookies.csv`` (a name per row, the category its vendor's
documentation gives and the page that says so) and prints the share of names the built-in
rules classify, the share classified into the vendor's category, and every name classified
into another category. ``--unclassified`` also lists the names no rule knows.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass, field
from pathlib import Path

from gateway.consent.state import Category
from gateway.cookies.rules import Classifier

SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "vendor-cookies.csv"


@dataclass(frozen=True)
class Sample:
    """One cookie name and the categories its vendor's documentation allows."""

    name: str
    categories: frozenset[Category]
    vendor: str
    source: str


@dataclass
class Coverage:
    """What the rules made of the sample."""

    total: int = 0
    right: int = 0
    wrong: list[tuple[Sample, Category]] = field(default_factory=list)
    unclassified: list[Sample] = field(default_factory=list)

    @property
    def classified(self) -> int:
        return self.right + len(self.wrong)


def load(path: Path = SAMPLE) -> list[Sample]:
    """The sample rows; ``category`` may name two categories as ``analytics|marketing``
    where the vendor's own label spans both."""
    with path.open(encoding="utf-8", newline="") as file:
        return [
            Sample(
                name=row["name"],
                categories=frozenset(Category(part) for part in row["category"].split("|")),
                vendor=row["vendor"],
                source=row["source"],
            )
            for row in csv.DictReader(file)
        ]


def measure(samples: list[Sample], classifier: Classifier | None = None) -> Coverage:
    """Classify every sample name with the built-in rules (no site rules)."""
    classifier = classifier or Classifier.default()
    coverage = Coverage(total=len(samples))
    for sample in samples:
        rule = classifier.classify(sample.name)
        if rule is None:
            coverage.unclassified.append(sample)
        elif rule.category in sample.categories:
            coverage.right += 1
        else:
            coverage.wrong.append((sample, rule.category))
    return coverage


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
