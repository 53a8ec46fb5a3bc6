"""The built-in tracker database rules/trackers.toml is well-formed and covers what sites use.

The file is read with tomllib directly, so a broken file fails here with a clear message
whatever the loader does; the loader's own validation is tested on bad files below.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

import pytest

from gateway.html.trackers import TrackerRules, load_tracker_file
from gateway.resources import rules_dir

CATEGORIES = {"essential", "preferences", "analytics", "marketing"}
LISTS = ("scripts", "pixels", "embeds", "snippets", "ids")
FIELDS = {"name", "docs", "category", "why", "loader", *LISTS}

# The vendors issue 3 names; each must be in the file under this name.
REQUIRED_VENDORS = [
    "Google Tag Manager",
    "Google tag (gtag.js)",
    "Google Analytics (analytics.js, ga.js)",
    "Google Ads",
    "DoubleClick and Google Publisher Tag",
    "Meta Pixel",
    "TikTok Pixel",
    "LinkedIn Insight Tag",
    "Pinterest Tag",
    "Snap Pixel",
    "X (Twitter) Pixel",
    "Microsoft Advertising UET",
    "Microsoft Clarity",
    "Hotjar",
    "Segment",
    "Mixpanel",
    "Amplitude",
    "Heap",
    "FullStory",
    "Matomo",
    "Plausible",
    "HubSpot",
    "Intercom",
    "Criteo",
    "Taboola",
    "Outbrain",
    "Reddit Pixel",
    "Quora Pixel",
    "Yandex Metrica",
    "Baidu Tongji",
    "YouTube embeds",
    "Vimeo embeds",
    "Google Maps embeds",
    "X (Twitter) embeds",
    "Instagram embeds",
    "Facebook social plugins",
    "Spotify embeds",
    "SoundCloud embeds",
]

GOOD_VENDOR = """
[[vendor]]
name = "Example Analytics"
docs = "https://example.com/docs/install"
category = "analytics"
why = "Counts visits."
scripts = ["cdn.example-analytics.com"]
snippets = ["exampleTrack('init',"]
"""


@cache
def _vendors() -> tuple[dict[str, object], ...]:
    path = rules_dir() / "trackers.toml"
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    assert set(document) == {"vendor"}, "only [[vendor]] tables belong in trackers.toml"
    vendors = document["vendor"]
    assert isinstance(vendors, list)
    return tuple(vendors)


def _entries(key: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for vendor in _vendors():
        values = vendor.get(key, [])
        assert isinstance(values, list)
        found.extend((str(vendor["name"]), str(value)) for value in values)
    return found


def test_the_file_describes_itself() -> None:
    assert (rules_dir() / "trackers.toml").read_text(encoding="utf-8").startswith("# ")


def test_every_vendor_has_only_known_fields_and_lists_something() -> None:
    for vendor in _vendors():
        name = vendor.get("name")
        assert set(vendor) <= FIELDS, f"{name}: fields {sorted(set(vendor) - FIELDS)}"
        assert {"name", "docs", "category", "why"} <= set(vendor), f"{name}: missing fields"
        assert any(vendor.get(key) for key in LISTS), f"{name}: lists nothing"


def test_every_vendor_names_its_https_documentation() -> None:
    for vendor in _vendors():
        docs = str(vendor["docs"])
        assert re.fullmatch(r"https://[a-z0-9.-]+\.[a-z]+(/\S*)?", docs), f"{vendor['name']}"


def test_every_vendor_has_a_known_category_and_says_why() -> None:
    for vendor in _vendors():
        assert vendor["category"] in CATEGORIES, f"{vendor['name']}: {vendor['category']!r}"
        why = str(vendor["why"])
        assert why[0].isupper() and why.endswith("."), f"{vendor['name']}: {why!r}"
        assert len(why) <= 240, f"{vendor['name']}: keep `why` to one sentence"


def test_vendor_names_are_unique() -> None:
    names = [str(vendor["name"]) for vendor in _vendors()]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})


def test_no_address_is_listed_twice() -> None:
    addresses = _entries("scripts") + _entries("pixels") + _entries("embeds")
    seen: dict[str, str] = {}
    for vendor, address in addresses:
        assert address not in seen, f"{address} listed for {seen.get(address)} and {vendor}"
        seen[address] = vendor


def test_no_snippet_is_listed_twice() -> None:
    snippets = [snippet for _, snippet in _entries("snippets")]
    assert len(snippets) == len(set(snippets)), "a snippet must name one vendor"


def test_addresses_are_bare_lower_case_hosts_with_optional_paths() -> None:
    for key in ("scripts", "pixels", "embeds"):
        for vendor, address in _entries(key):
            assert re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+(/[^/?#\s]+)*", address), (
                f"{vendor}: {key} entry {address!r}"
            )


def test_every_vendor_the_issue_names_is_listed() -> None:
    names = {str(vendor["name"]) for vendor in _vendors()}
    missing = [name for name in REQUIRED_VENDORS if name not in names]
    assert not missing, f"missing vendors: {missing}"


def test_containers_need_the_strictest_category() -> None:
    categories = {str(vendor["name"]): vendor["category"] for vendor in _vendors()}
    for container in ("Google Tag Manager", "Segment", "Matomo Tag Manager"):
        assert categories[container] == "marketing"


def test_google_tags_take_the_category_of_their_id() -> None:
    """Analytics ids (G-) wait for analytics, ads ids (AW-, DC-) for marketing; the loaders
    that name them fall back on marketing, as a GT- tag or a container may load ads."""
    by_id = {str(i): (v["name"], v["category"]) for v in _vendors() for i in v.get("ids", [])}
    assert by_id["G-"][1] == "analytics" and by_id["UA-"][1] == "analytics"
    assert by_id["AW-"][1] == by_id["DC-"][1] == by_id["GT-"][1] == "marketing"
    loaders = {str(v["name"]): v["category"] for v in _vendors() if v.get("loader")}
    assert loaders == {"Google Tag Manager": "marketing", "Google tag (gtag.js)": "marketing"}
    assert by_id["GTM-"][0] == "Google Tag Manager"


def test_recaptcha_is_essential_so_it_is_never_gated() -> None:
    categories = {str(vendor["name"]): vendor["category"] for vendor in _vendors()}
    assert categories["Google reCAPTCHA"] == "essential"


def test_the_built_in_file_loads() -> None:
    rules = TrackerRules.load()
    assert len(rules.trackers) == len(_vendors())


def test_the_rules_page_documents_the_tracker_format() -> None:
    readme = (Path(__file__).resolve().parents[2] / "docs" / "rules.md").read_text(encoding="utf-8")
    for word in ("trackers.toml", "snippets", "embeds", "pixels", "`why`", "Google Tag Manager"):
        assert word in readme


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site-trackers.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    rules = load_tracker_file(_write(tmp_path, GOOD_VENDOR))
    assert [tracker.vendor for tracker in rules.trackers] == ["Example Analytics"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('docs = "https://example.com/docs/install"', 'docs = "http://example.com"'), "`docs`"),
        (('category = "analytics"', 'category = "statistics"'), "`category` 'statistics'"),
        (('why = "Counts visits."', 'why = ""'), "`why`"),
        (
            ('scripts = ["cdn.example-analytics.com"]', 'scripts = ["https://cdn.x.com/a.js"]'),
            "host",
        ),
        (('scripts = ["cdn.example-analytics.com"]', 'scripts = ["CDN.example.com"]'), "host"),
        (('scripts = ["cdn.example-analytics.com"]', 'scripts = ["cdn.x.com/a?b=1"]'), "path"),
        (('scripts = ["cdn.example-analytics.com"]', 'scripts = ["cdn.x.com/a/"]'), "path"),
        (('scripts = ["cdn.example-analytics.com"]', 'scripts = "cdn.x.com"'), "list of strings"),
        (("snippets = [\"exampleTrack('init',\"]", 'snippets = ["ga("]'), "at least"),
        (('why = "Counts visits."', 'why = "Counts visits."\ncookies = []'), "unknown key"),
        (('why = "Counts visits."', 'why = "Counts visits."\nids = ["ex-"]'), "prefix like G-"),
        (('why = "Counts visits."', 'why = "Counts visits."\nids = ["EX"]'), "prefix like G-"),
        (('why = "Counts visits."', 'why = "Counts visits."\nloader = "yes"'), "`loader`"),
    ],
)
def test_a_bad_entry_raises_naming_file_vendor_and_entry(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in GOOD_VENDOR
    path = _write(tmp_path, GOOD_VENDOR.replace(old, new))
    with pytest.raises(ValueError, match=r"site-trackers\.toml") as raised:
        load_tracker_file(path)
    assert "Example Analytics" in str(raised.value)
    assert message in str(raised.value)


def test_an_address_listed_for_two_vendors_raises(tmp_path: Path) -> None:
    second = GOOD_VENDOR.replace("Example Analytics", "Other Vendor").replace(
        "snippets = [\"exampleTrack('init',\"]", ""
    )
    with pytest.raises(ValueError, match="already listed for 'Example Analytics'") as raised:
        load_tracker_file(_write(tmp_path, GOOD_VENDOR + second))
    assert "Other Vendor" in str(raised.value)
    assert "cdn.example-analytics.com" in str(raised.value)


def test_a_tag_id_prefix_listed_for_two_vendors_raises(tmp_path: Path) -> None:
    first = GOOD_VENDOR + 'ids = ["EX-"]\n'
    second = first.replace("Example Analytics", "Other Vendor").replace("example-analytics", "o")
    second = second.replace("exampleTrack", "otherTrack")
    with pytest.raises(ValueError, match="ids entry 'EX-' is already listed for 'Example"):
        load_tracker_file(_write(tmp_path, first + second))


def test_a_vendor_listed_twice_raises(tmp_path: Path) -> None:
    twice = GOOD_VENDOR + GOOD_VENDOR.replace("cdn.example-analytics", "cdn2.example").replace(
        "exampleTrack", "otherTrack"
    )
    with pytest.raises(ValueError, match="'Example Analytics' is listed twice"):
        load_tracker_file(_write(tmp_path, twice))


def test_a_vendor_without_entries_raises(tmp_path: Path) -> None:
    empty = GOOD_VENDOR.replace('scripts = ["cdn.example-analytics.com"]', "").replace(
        "snippets = [\"exampleTrack('init',\"]", ""
    )
    with pytest.raises(ValueError, match="'Example Analytics': lists no scripts"):
        load_tracker_file(_write(tmp_path, empty))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[vendor]\nname = 1", "not valid TOML"),
        ("[settings]\nx = 1", "holds [[vendor]] tables"),
        ("", "holds [[vendor]] tables"),
        ("[[vendor]]\ndocs = 'https://x.com'", "vendor #1: `name`"),
    ],
)
def test_a_malformed_file_raises_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"site-trackers\.toml") as raised:
        load_tracker_file(_write(tmp_path, text))
    assert message in str(raised.value)


def test_a_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such tracker rules file"):
        load_tracker_file(tmp_path / "absent.toml")
