"""The compiled classifier: precedence, prefixes, patterns and the full rule set."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.consent.state import Category
from gateway.cookies.rules import Classifier, CookieRule, MatchKind, load_rule_files


def rule(name: str, category: str, match: str = "exact", **extra: object) -> CookieRule:
    """A rule as built-in files hold them."""
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


def site_rule(name: str, category: str, match: str = "exact", **extra: object) -> CookieRule:
    """A rule of a site rules file (such as an imported one): ``override`` defaults off."""
    data = {"name": name, "category": category, "match": match, "retention": "1y", "purpose": "p"}
    return CookieRule.from_mapping(
        {**data, **extra}, vendor="v", docs=None, origin="site.toml", override=False
    )


def test_a_site_rule_never_makes_a_built_in_essential_cookie_non_essential_unasked() -> None:
    builtin = [rule("sessionid", "essential"), rule("_ga", "analytics"), rule("SESS", "essential")]
    classifier = Classifier(
        builtin,
        [
            site_rule("sessionid", "marketing"),
            site_rule("_s", "analytics", "prefix"),
            site_rule("_ga", "marketing"),
            site_rule("SE", "analytics", "prefix"),
        ],
    )
    assert category(classifier, "sessionid") is Category.ESSENTIAL
    assert category(classifier, "__Secure-sessionid") is Category.ESSENTIAL
    assert category(classifier, "_session_id") is Category.ANALYTICS  # no built-in rule
    assert category(classifier, "_ga") is Category.MARKETING  # not essential: the site wins
    assert category(classifier, "SESS") is Category.ESSENTIAL
    assert {(site.name, builtin.name) for site, builtin in classifier.essential_conflicts()} == {
        ("sessionid", "sessionid"),
        ("SE", "SESS"),
    }


def test_override_lets_a_site_rule_make_a_built_in_essential_cookie_non_essential() -> None:
    said = site_rule("sessionid", "marketing", override=True)
    classifier = Classifier([rule("sessionid", "essential")], [said])
    assert classifier.classify("sessionid") is said
    assert classifier.essential_conflicts() == [(said, classifier.rules[1])]


def test_settings_entries_are_the_operator_speaking() -> None:
    entry = CookieRule.from_mapping(
        {"name": "sessionid", "category": "analytics", "retention": "1y", "purpose": "p"},
        vendor=None,
        docs=None,
        origin="site",
        override=True,
    )
    assert entry.override
    assert category(Classifier([rule("sessionid", "essential")], [entry]), "sessionid") is (
        Category.ANALYTICS
    )


def test_only_site_rules_may_carry_override() -> None:
    with pytest.raises(ValueError, match="override"):
        rule("sessionid", "marketing", override=True)
    with pytest.raises(ValueError, match="`override` must be true or false"):
        site_rule("sessionid", "marketing", override="yes")


def test_third_party_rules_say_where_a_name_is_set_elsewhere() -> None:
    fr = rule("fr", "marketing", domain="facebook.com")
    ide = rule("IDE", "marketing", "prefix", domain="doubleclick.net")
    classifier = Classifier([fr, ide, rule("fr", "preferences", "prefix")])
    assert category(classifier, "fr") is Category.PREFERENCES
    assert classifier.elsewhere("fr") == [fr]
    assert classifier.elsewhere("__Host-IDEx") == [ide]
    assert classifier.elsewhere("frx") == []


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
