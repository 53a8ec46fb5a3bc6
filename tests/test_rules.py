"""The compiled classifier: precedence, prefixes, patterns and the full rule set."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.consent import Category
from gateway.rules import Classifier, CookieRule, MatchKind, load_rule_files


def rule(name: str, category: str, match: str = "exact", **extra: str) -> CookieRule:
    data = {"name": name, "category": category, "match": match, "retention": "1y", "purpose": "p"}
    return CookieRule.from_mapping({**data, **extra}, vendor="v", docs=None, origin="test")


def category(classifier: Classifier, name: str) -> Category | None:
    found = classifier.classify(name)
    return found.category if found else None


def test_exact_beats_longest_prefix_beats_pattern() -> None:
    classifier = Classifier(
        [
            rule("_ga", "analytics", "prefix"),
            rule("_gab", "marketing", "prefix"),
            rule("_gabc", "preferences"),
            rule(r"_g\w+", "essential", "pattern"),
        ]
    )
    assert category(classifier, "_gabc") is Category.PREFERENCES
    assert category(classifier, "_gabx") is Category.MARKETING
    assert category(classifier, "_gax") is Category.ANALYTICS
    assert category(classifier, "_gz") is Category.ESSENTIAL
    assert category(classifier, "other") is None


def test_site_rules_beat_built_in_rules() -> None:
    classifier = Classifier([rule("_ga", "analytics")], [rule("_g", "essential", "prefix")])
    assert category(classifier, "_ga") is Category.ESSENTIAL


def test_cookie_name_prefixes_are_looked_through() -> None:
    classifier = Classifier([rule("_ga", "analytics"), rule("__Secure-own", "essential")])
    assert category(classifier, "__Secure-_ga") is Category.ANALYTICS
    assert category(classifier, "__host-_ga") is Category.ANALYTICS
    assert category(classifier, "__Secure-own") is Category.ESSENTIAL


def test_third_party_domain_rules_do_not_classify_first_party_cookies() -> None:
    classifier = Classifier([rule("mid", "marketing", domain="instagram.com")])
    assert category(classifier, "mid") is None
    assert classifier.rules[0].domain == "instagram.com"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"category": "analytics"}, "name"),
        ({"name": "x", "category": "tracking"}, "tracking"),
        ({"name": "x", "category": "analytics", "match": "glob"}, "match"),
        ({"name": "(", "category": "analytics", "match": "pattern"}, "regular expression"),
        ({"name": "x", "category": "analytics", "colour": "red"}, "colour"),
        ({"name": "x", "category": "analytics", "purpose": 3}, "purpose"),
    ],
)
def test_bad_rules_are_named(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CookieRule.from_mapping(data, vendor=None, docs=None, origin="site")


def test_bad_rule_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("[[vendor]\n")
    with pytest.raises(ValueError, match=r"broken\.toml"):
        load_rule_files(tmp_path)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("_ga", Category.ANALYTICS),
        ("_ga_ABC123XYZ", Category.ANALYTICS),
        ("_fbp", Category.MARKETING),
        ("_gcl_au", Category.MARKETING),
        ("PHPSESSID", Category.ESSENTIAL),
        ("OptanonConsent", Category.ESSENTIAL),
        ("__cf_bm", Category.ESSENTIAL),
        ("_hjSessionUser_123456", Category.ANALYTICS),
        ("sessionid", Category.ESSENTIAL),
    ],
)
def test_the_built_in_database(name: str, expected: Category) -> None:
    classifier = Classifier.default()
    assert category(classifier, name) is expected
    assert len(classifier.rules) >= 400
    assert classifier.classify(name) is not None
    assert classifier.classify(name).match in MatchKind  # type: ignore[union-attr]
