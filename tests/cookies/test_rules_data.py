"""The built-in cookie database in rules/cookies/ is well-formed and says what users rely on.

The files are read with tomllib directly, so a broken file fails here with a clear message
whatever the loader does with it.
"""

from __future__ import annotations

import re
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from gateway.resources import rules_dir
from tests.support.pattern_examples import PATTERN_EXAMPLES

CATEGORIES = {"essential", "preferences", "analytics", "marketing"}
MATCH_KINDS = {"exact", "prefix", "pattern"}
VENDOR_FIELDS = {"name", "docs", "cookies"}
REQUIRED_FIELDS = {"name", "category", "retention", "purpose"}
OPTIONAL_FIELDS = {"match", "domain"}


# Cookies users look up most, and the category they must get.
WELL_KNOWN = [
    ("_ga", "analytics"),
    ("_ga_X1Y2Z3W4V5", "analytics"),
    ("_gid", "analytics"),
    ("_gat_gtag_UA_12345_1", "analytics"),
    ("__utma", "analytics"),
    ("_pk_id.1.1fff", "analytics"),
    ("_hjSessionUser_123456", "analytics"),
    ("_clck", "analytics"),
    ("optimizelyEndUserId", "analytics"),
    ("_fbp", "marketing"),
    ("_fbc", "marketing"),
    ("IDE", "marketing"),
    ("test_cookie", "marketing"),
    ("_gcl_au", "marketing"),
    ("_ttp", "marketing"),
    ("_uetvid", "marketing"),
    ("_pin_unauth", "marketing"),
    ("hubspotutk", "marketing"),
    ("__hstc", "marketing"),
    ("_mkto_trk", "marketing"),
    ("VISITOR_INFO1_LIVE", "marketing"),
    ("PHPSESSID", "essential"),
    ("JSESSIONID", "essential"),
    ("csrftoken", "essential"),
    ("_myshop_session", "essential"),
    ("laravel_session", "essential"),
    ("XSRF-TOKEN", "essential"),
    ("__Secure-next-auth.session-token", "essential"),
    ("sb-abcdefghijklmnop-auth-token", "essential"),
    ("OptanonConsent", "essential"),
    ("CookieConsent", "essential"),
    ("cc_cookie", "essential"),
    ("euconsent-v2", "essential"),
    ("__cf_bm", "essential"),
    ("cf_clearance", "essential"),
    ("_abck", "essential"),
    ("visid_incap_123456", "essential"),
    ("AWSALB", "essential"),
    ("BIGipServerpool_web", "essential"),
    ("__stripe_mid", "essential"),
    ("cart", "essential"),
    ("wordpress_logged_in_0123abcd", "essential"),
    ("SSESS0123456789abcdef0123456789abcdef", "essential"),
    ("PREF", "preferences"),
    ("django_language", "preferences"),
    (".AspNetCore.Culture", "preferences"),
    ("_parsely_session", "analytics"),
    ("intercom-id-abc123", "preferences"),
]


@dataclass(frozen=True)
class Entry:
    """One cookie entry and where it was found."""

    file: str
    vendor: str
    fields: dict[str, object]

    @property
    def name(self) -> str:
        return str(self.fields["name"])

    @property
    def match(self) -> str:
        return str(self.fields.get("match", "exact"))

    @property
    def category(self) -> str:
        return str(self.fields["category"])


@cache
def _files() -> tuple[tuple[str, dict[str, object]], ...]:
    paths = sorted((rules_dir() / "cookies").glob("*.toml"))
    return tuple((path.name, tomllib.loads(path.read_text(encoding="utf-8"))) for path in paths)


def _vendors() -> list[tuple[str, dict[str, object]]]:
    found: list[tuple[str, dict[str, object]]] = []
    for file, document in _files():
        vendors = document.get("vendor", [])
        assert isinstance(vendors, list), f"{file}: [[vendor]] tables expected"
        found.extend((file, vendor) for vendor in vendors)
    return found


@cache
def _entries() -> tuple[Entry, ...]:
    entries: list[Entry] = []
    for file, vendor in _vendors():
        cookies = vendor.get("cookies", [])
        assert isinstance(cookies, list), f"{file}: {vendor.get('name')}: cookies must be a list"
        entries.extend(Entry(file, str(vendor.get("name")), cookie) for cookie in cookies)
    return tuple(entries)


def _category_of(cookie_name: str) -> str | None:
    """The category of the most specific rule: exact, then longest prefix, then pattern."""
    entries = _entries()
    for entry in entries:
        if entry.match == "exact" and entry.name == cookie_name:
            return entry.category
    prefixes = [e for e in entries if e.match == "prefix" and cookie_name.startswith(e.name)]
    if prefixes:
        return max(prefixes, key=lambda entry: len(entry.name)).category
    for entry in entries:
        if entry.match == "pattern" and re.fullmatch(entry.name, cookie_name):
            return entry.category
    return None


def test_every_group_file_describes_itself_and_lists_vendors() -> None:
    assert len(_files()) >= 10
    for path in sorted((rules_dir() / "cookies").glob("*.toml")):
        assert path.read_text(encoding="utf-8").startswith("# "), f"{path.name}: no comment"
    for file, document in _files():
        assert set(document) == {"vendor"}, f"{file}: only [[vendor]] tables belong here"
        assert document["vendor"], f"{file}: no vendors"


def test_every_vendor_names_its_documentation() -> None:
    for file, vendor in _vendors():
        assert set(vendor) == VENDOR_FIELDS, f"{file}: {vendor.get('name')}: fields {set(vendor)}"
        assert str(vendor["name"]).strip(), f"{file}: vendor without a name"
        assert str(vendor["docs"]).startswith("https://"), f"{file}: {vendor['name']}: docs"
        assert vendor["cookies"], f"{file}: {vendor['name']}: no cookies"


def test_vendor_names_are_unique() -> None:
    names = [str(vendor["name"]) for _, vendor in _vendors()]
    repeated = sorted({name for name in names if names.count(name) > 1})
    assert not repeated, f"vendors listed twice: {repeated}"


def test_every_entry_has_the_required_fields() -> None:
    for entry in _entries():
        where = f"{entry.file}: {entry.vendor}: {entry.fields.get('name')!r}"
        assert set(entry.fields) >= REQUIRED_FIELDS, f"{where}: missing fields"
        assert set(entry.fields) <= REQUIRED_FIELDS | OPTIONAL_FIELDS, f"{where}: unknown fields"
        for field in REQUIRED_FIELDS:
            value = entry.fields[field]
            assert isinstance(value, str), f"{where}: {field} must be text"
            assert value.strip() == value, f"{where}: {field} has surrounding spaces"
            assert value, f"{where}: {field} is empty"


def test_every_entry_has_a_valid_category_and_match_kind() -> None:
    for entry in _entries():
        where = f"{entry.file}: {entry.vendor}: {entry.name}"
        assert entry.category in CATEGORIES, f"{where}: category {entry.category!r}"
        assert entry.match in MATCH_KINDS, f"{where}: match {entry.match!r}"


def test_purposes_are_one_short_sentence() -> None:
    for entry in _entries():
        purpose = str(entry.fields["purpose"])
        where = f"{entry.file}: {entry.vendor}: {entry.name}"
        assert purpose[0].isupper(), f"{where}: {purpose!r}"
        assert purpose.endswith("."), f"{where}: {purpose!r}"
        assert ". " not in purpose.rstrip("."), f"{where}: more than one sentence"
        assert len(purpose) <= 120, f"{where}: purpose too long"


def test_domains_are_bare_host_names() -> None:
    for entry in _entries():
        domain = entry.fields.get("domain")
        if domain is None:
            continue
        assert isinstance(domain, str), f"{entry.vendor}: {entry.name}: domain must be text"
        assert re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", domain), f"{entry.name}: {domain!r}"


def test_names_and_prefixes_could_appear_in_a_cookie_header() -> None:
    forbidden = re.compile(r"[\s;,=\"\x00-\x1f\x7f]")
    for entry in _entries():
        if entry.match == "pattern":
            continue
        assert not forbidden.search(entry.name), f"{entry.vendor}: {entry.name!r}"


def test_prefixes_are_specific_enough() -> None:
    for entry in _entries():
        if entry.match == "prefix":
            assert len(entry.name) >= 3, f"{entry.vendor}: prefix {entry.name!r} is too broad"


def test_every_pattern_compiles_and_matches_its_examples() -> None:
    patterns = {entry.name for entry in _entries() if entry.match == "pattern"}
    assert patterns == set(PATTERN_EXAMPLES), "every pattern needs examples, and only those"
    for pattern, (matching, not_matching) in PATTERN_EXAMPLES.items():
        compiled = re.compile(pattern)
        assert matching, f"{pattern}: no example"
        for name in matching:
            assert compiled.fullmatch(name), f"{pattern} should match {name!r}"
        for name in not_matching:
            assert not compiled.fullmatch(name), f"{pattern} should not match {name!r}"


def test_patterns_have_no_nested_repetition() -> None:
    nested = re.compile(r"\([^()]*[+*][^()]*\)[+*{]")
    for entry in _entries():
        if entry.match == "pattern":
            assert not nested.search(entry.name), f"{entry.vendor}: {entry.name} may backtrack"


def test_patterns_are_not_plain_names() -> None:
    for entry in _entries():
        if entry.match == "pattern":
            assert not re.fullmatch(r"[\w-]+", entry.name), f"{entry.name}: use exact"


def test_no_cookie_is_listed_twice_with_different_categories() -> None:
    categories: dict[tuple[str, str], set[str]] = defaultdict(set)
    vendors: dict[tuple[str, str], list[str]] = defaultdict(list)
    for entry in _entries():
        categories[(entry.name, entry.match)].add(entry.category)
        vendors[(entry.name, entry.match)].append(entry.vendor)
    conflicts = {key: vendors[key] for key, found in categories.items() if len(found) > 1}
    assert not conflicts, f"conflicting entries: {conflicts}"


def test_the_database_is_large_enough_to_be_useful() -> None:
    assert len(_entries()) >= 400
    assert len({entry.vendor for entry in _entries()}) >= 80


def test_every_category_is_represented() -> None:
    assert {entry.category for entry in _entries()} == CATEGORIES


@pytest.mark.parametrize(("cookie_name", "category"), WELL_KNOWN)
def test_well_known_cookies_get_the_expected_category(cookie_name: str, category: str) -> None:
    assert _category_of(cookie_name) == category


def test_an_unrelated_cookie_matches_no_rule() -> None:
    assert _category_of("my_shop_theme") is None


def test_the_rules_page_documents_the_format() -> None:
    readme = (Path(__file__).resolve().parents[2] / "docs" / "rules.md").read_text(encoding="utf-8")
    for word in ("[[vendor]]", "prefix", "pattern", "retention", "purpose", "[[cookies]]"):
        assert word in readme
    for category in CATEGORIES:
        assert f"`{category}`" in readme
