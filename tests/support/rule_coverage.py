"""The built-in rules measured against ``tests/data/vendor-cookies.csv``: real cookie names
and the category their vendors' documentation gives them. ``tests/cookies/test_rules_coverage.py``
checks the figures and ``benchmarks/rule_coverage.py`` prints them."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from gateway.consent.state import Category
from gateway.cookies.rules import Classifier

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "vendor-cookies.csv"


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
