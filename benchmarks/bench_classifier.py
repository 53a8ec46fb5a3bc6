"""Cookie classifier look-ups per second over the full built-in rule set, on one core.

(a) Exact names: names of exact rules, through the memo (what a site with a steady set of
    cookies sees) and with the memo off (one dict probe per rule set).
(b) Mixed: 120,000 distinct names: every exact name once, then a third each of prefix hits
    with random suffixes (``_ga_ABC123XYZ``), pattern hits (the example names of each pattern
    with their letters and digits re-drawn, checked to still match) and unknown names;
    measured with the memo off, and on but defeated (no name repeats within 4,096).

Every figure is printed with its ratio to plain ``dict.get`` over the same names in the same
process, because the machines here are noisy.

    .venv/bin/python benchmarks/bench_classifier.py
"""

from __future__ import annotations

import random
import re
import string
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.cookies.rules import Classifier, CookieRule, MatchKind, load_rule_files
from gateway.resources import rules_dir

EXACT_TARGET = 1_000_000
MIXED_TARGET = 300_000
MIXED_NAMES = 120_000
ALNUM = string.ascii_letters + string.digits


def per_second(lookup: Callable[[str], object], names: list[str], repeat: int = 5) -> float:
    """Best of ``repeat`` passes; ``map`` keeps the loop's own cost small and equal for all."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        deque(map(lookup, names), maxlen=0)
        best = min(best, time.perf_counter() - start)
    return len(names) / best


def synthetic_rules(rng: random.Random) -> tuple[list[CookieRule], dict[str, list[str]]]:
    """A rule set of the built-in one's shape: 500 exact, 150 prefixes, 50 patterns."""

    def rule(name: str, match: MatchKind) -> CookieRule:
        data = {"name": name, "match": match.value, "category": "analytics"}
        data |= {"retention": "1 year", "purpose": "Synthetic."}
        return CookieRule.from_mapping(data, vendor="synthetic", docs=None, origin="synthetic")

    def word() -> str:
        return "".join(rng.choices(string.ascii_lowercase + "_", k=rng.randint(3, 12)))

    rules = [rule(word() + str(index), MatchKind.EXACT) for index in range(500)]
    rules += [rule(f"{word()}{index}_", MatchKind.PREFIX) for index in range(150)]
    examples: dict[str, list[str]] = {}
    for index in range(50):
        stem = word()
        pattern = rf"{stem}_[0-9a-f]+_p{index}"
        rules.append(rule(pattern, MatchKind.PATTERN))
        examples[pattern] = [f"{stem}_0a1b2c3d_p{index}"]
    return rules, examples


def built_in_pattern_examples() -> dict[str, list[str]]:
    """The example names each built-in pattern is tested with."""
    from tests.support.pattern_examples import PATTERN_EXAMPLES

    return {pattern: matching for pattern, (matching, _) in PATTERN_EXAMPLES.items()}


def redraw(example: str, pattern: str, rng: random.Random) -> str:
    """``example`` with random letters and digits in place of its own, if it still matches;
    failing that, with only its digits re-drawn; failing that, ``example`` itself."""
    everything = (string.digits, string.ascii_lowercase, string.ascii_uppercase)
    for classes in (everything, everything, (string.digits,), (string.digits,)):
        name = "".join(
            next((rng.choice(c) for c in classes if char in c), char) for char in example
        )
        if re.fullmatch(pattern, name):
            return name
    return example


def mixed_names(rules: list[CookieRule], examples: dict[str, list[str]]) -> list[str]:
    """Every exact name once (more would repeat), then a third each of the other kinds."""
    rng = random.Random(2)
    first_party = [rule for rule in rules if rule.domain is None]
    exact = [rule.name for rule in first_party if rule.match is MatchKind.EXACT]
    prefixes = [rule.name for rule in first_party if rule.match is MatchKind.PREFIX]
    patterns = [(pattern, matching) for pattern, matching in examples.items() if matching]
    names: set[str] = set(exact)
    third = (MIXED_NAMES - len(names)) // 3
    while len(names) < len(exact) + third:
        names.add(rng.choice(prefixes) + "".join(rng.choices(ALNUM, k=rng.randint(4, 12))))
    # Some patterns allow few distinct names; the attempts are bounded and unknown names
    # fill what they leave, as the printed mix shows.
    for _ in range(20 * third):
        if len(names) >= len(exact) + 2 * third:
            break
        pattern, matching = rng.choice(patterns)
        names.add(redraw(rng.choice(matching), pattern, rng))
    while len(names) < MIXED_NAMES:
        names.add("site_" + "".join(rng.choices(ALNUM, k=rng.randint(4, 16))))
    shuffled = sorted(names)
    rng.shuffle(shuffled)
    return shuffled


def describe_mix(classifier: Classifier, names: list[str]) -> str:
    """How many names each kind of rule actually classifies."""
    counts = Counter(
        rule.match.value if rule else "unknown" for rule in map(classifier.classify, names)
    )
    return ", ".join(f"{count:,} {kind}" for kind, count in counts.most_common())


def report(label: str, rate: float, baseline: float, target: int | None = None) -> None:
    verdict = ""
    if target is not None:
        verdict = f"  target {target:,}: {'met' if rate >= target else 'MISSED'}"
    print(f"{label:<44} {rate:>12,.0f} /s  {rate / baseline:>6.1%} of dict.get{verdict}")


def main() -> None:
    rules = load_rule_files(rules_dir() / "cookies")
    examples = built_in_pattern_examples()
    if not rules:
        print("rules/cookies/ is empty: using a synthetic rule set of the same shape")
        rules, examples = synthetic_rules(random.Random(1))
    kinds = {
        kind: sum(1 for r in rules if r.match is kind and r.domain is None) for kind in MatchKind
    }
    print(
        f"{len(rules)} rules; first-party: {kinds[MatchKind.EXACT]} exact, "
        f"{kinds[MatchKind.PREFIX]} prefix, {kinds[MatchKind.PATTERN]} pattern"
    )

    exact = [r.name for r in rules if r.match is MatchKind.EXACT and r.domain is None]
    rng = random.Random(1)
    exact_names = [rng.choice(exact) for _ in range(200_000)]
    table = dict.fromkeys(exact)
    baseline = per_second(table.get, exact_names)
    report(
        "(a) exact names, memo on",
        per_second(Classifier(rules).classify, exact_names),
        baseline,
        EXACT_TARGET,
    )
    no_memo = Classifier(rules, cache_size=0)
    report(
        "(a) exact names, memo off",
        per_second(no_memo.classify, exact_names),
        baseline,
        EXACT_TARGET,
    )

    names = mixed_names(rules, examples)
    print(f"mixed: {len(names):,} distinct names: {describe_mix(no_memo, names)}")
    baseline = per_second(table.get, names)
    report(
        "(b) mixed distinct names, memo off",
        per_second(no_memo.classify, names),
        baseline,
        MIXED_TARGET,
    )
    defeated = Classifier(rules)
    report(
        "(b) mixed distinct names, memo on (defeated)",
        per_second(defeated.classify, names),
        baseline,
        MIXED_TARGET,
    )


if __name__ == "__main__":
    main()
