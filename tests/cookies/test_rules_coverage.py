"""The built-in rules against real cookie names and the categories their vendors give them.

The sample is ``tests/data/vendor-cookies.csv``, read by ``tests/support/rule_coverage.py``;
``python benchmarks/rule_coverage.py`` prints the same figures, which docs/rules.md records.
"""

from __future__ import annotations

from gateway.cookies.rules import cookie_name_problem
from tests.support.rule_coverage import load, measure

# The share of sample names the rules classify, as measured (docs/rules.md), rounded down.
MEASURED_SHARE_CLASSIFIED = 1.0


def test_every_classified_name_gets_its_vendors_category() -> None:
    coverage = measure(load())
    wrong = [(sample.name, category.value, sample.source) for sample, category in coverage.wrong]
    assert not wrong, f"classified against the vendor's documentation: {wrong}"


def test_the_share_classified_does_not_drop() -> None:
    coverage = measure(load())
    unknown = [sample.name for sample in coverage.unclassified]
    assert coverage.classified / coverage.total >= MEASURED_SHARE_CLASSIFIED, unknown


def test_the_sample_is_large_varied_and_sourced() -> None:
    samples = load()
    assert len(samples) >= 150
    assert len({sample.vendor for sample in samples}) >= 30
    assert len({sample.name for sample in samples}) == len(samples), "a name twice"
    for sample in samples:
        assert cookie_name_problem(sample.name) is None, sample.name
        assert sample.source.startswith("https://"), sample.name
        assert sample.categories, sample.name
