"""The GPP decoder against the IAB's own library, ``@iabgpp/cmpapi`` from the npm registry:
strings it writes decode field by field as it reads them; damaged strings are refused or
decode as it reads them. Then the opt-out mapping of ``rules/gpp.toml``."""

from __future__ import annotations

import contextlib
import random
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.consent.adapters import build
from gateway.consent.adapters.base import SiteTable
from gateway.consent.gpp import (
    MAX_LENGTH,
    GppError,
    GppMapping,
    GppString,
    OptOuts,
    UsNat,
    UspV1,
    decode_gpp,
    gpp_categories,
    gpp_opt_outs,
)
from gateway.consent.state import Category
from tests.support import gpp as gpp_library

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
SEED, COUNT = 19, 240
# Where the gateway refuses what the library reads (gateway/consent/gpp.py says why): the
# start of each such GppError message.
STRICTER = (
    "unknown GPP header version",
    "usnat: unknown version",
    "usnat: a version",  # a core segment whose length does not match its version
    "usnat: a 2-bit field holds 3",
    "usnat: a subsection of unknown type",
    "usnat: more than one subsection",
    "uspv1: not a US Privacy string",
)
EVERYTHING = frozenset(Category)
NO_MARKETING = EVERYTHING - {Category.MARKETING}


@pytest.fixture(scope="module")
def library_strings() -> list[dict[str, Any]]:
    """COUNT random choices, encoded and decoded by the library."""
    return gpp_library.library_strings(SEED, COUNT)


def as_library(gpp: GppString) -> dict[str, Any]:
    """The gateway's decoding in the shape the Node script prints the library's."""
    result: dict[str, Any] = {"sectionIds": list(gpp.section_ids)}
    if (usnat := gpp.usnat) is not None:
        result["usnat"] = {
            "Version": usnat.version,
            "SharingNotice": usnat.sharing_notice,
            "SaleOptOutNotice": usnat.sale_opt_out_notice,
            "SharingOptOutNotice": usnat.sharing_opt_out_notice,
            "TargetedAdvertisingOptOutNotice": usnat.targeted_advertising_opt_out_notice,
            "SensitiveDataProcessingOptOutNotice": usnat.sensitive_data_processing_opt_out_notice,
            "SensitiveDataLimitUseNotice": usnat.sensitive_data_limit_use_notice,
            "SaleOptOut": usnat.sale_opt_out,
            "SharingOptOut": usnat.sharing_opt_out,
            "TargetedAdvertisingOptOut": usnat.targeted_advertising_opt_out,
            "SensitiveDataProcessing": list(usnat.sensitive_data_processing),
            "KnownChildSensitiveDataConsents": list(usnat.known_child_sensitive_data_consents),
            "PersonalDataConsents": usnat.personal_data_consents,
            "MspaCoveredTransaction": usnat.mspa_covered_transaction,
            "MspaOptOutOptionMode": usnat.mspa_opt_out_option_mode,
            "MspaServiceProviderMode": usnat.mspa_service_provider_mode,
            "GpcSegmentType": 1,  # the only type; the library reports it without one too
            "Gpc": bool(usnat.gpc),
            "GpcSegmentIncluded": usnat.gpc is not None,
        }
    if (uspv1 := gpp.uspv1) is not None:
        result["uspv1"] = {
            "Version": uspv1.version,
            "Notice": uspv1.notice,
            "OptOutSale": uspv1.opt_out_sale,
            "LspaCovered": uspv1.lspa_covered,
        }
    return result


@pytest.mark.slow  # Node runs the library
def test_decodes_every_field_of_the_library_strings_as_the_library(
    library_strings: list[dict[str, Any]],
) -> None:
    assert len(library_strings) == COUNT
    for case in library_strings:
        assert "error" not in case["library"], case
        assert as_library(decode_gpp(case["string"])) == case["library"], case["string"]
    kinds = [set(case["library"]) - {"sectionIds"} for case in library_strings]
    ids = [set(case["library"]["sectionIds"]) for case in library_strings]
    assert kinds.count({"usnat"}) >= 40
    assert kinds.count({"uspv1"}) >= 20
    assert kinds.count({"usnat", "uspv1"}) >= 40
    assert sum(1 for i in ids if {6, 7, 8, 10} <= i) >= 20  # with sections not read
    assert sum(1 for i in ids if 30 in i) >= 5  # with a section id no library knows
    versions = {
        case["library"]["usnat"]["Version"]
        for case in library_strings
        if "usnat" in case["library"]
    }
    assert versions == {1, 2}


def flip(text: str, index: int, bit: int) -> str:
    char = ALPHABET[ALPHABET.index(text[index]) ^ (1 << bit)]
    return text[:index] + char + text[index + 1 :]


def damaged(strings: list[str]) -> list[str]:
    """Every string cut short at every length, and edited by one bit at every bit of its
    base64url characters."""
    out: list[str] = []
    for string in strings:
        out.extend(string[:length] for length in range(len(string)))
        for index, char in enumerate(string):
            if char in ALPHABET:
                out.extend(flip(string, index, bit) for bit in range(6))
    return out


def gateway_reading(string: str) -> dict[str, Any] | str:
    try:
        return as_library(decode_gpp(string))
    except GppError as error:
        return str(error)


@pytest.mark.slow  # Node runs the library
def test_damaged_strings_are_refused_or_decoded_as_the_library_does(
    library_strings: list[dict[str, Any]],
) -> None:
    strings = damaged([case["string"] for case in library_strings[:60]])
    wrong_header = [
        "CBABzw~1YNN",  # type 2
        "DCABzw~1YNN",  # version 2
        "DBABAAAA~1YNN",  # a Fibonacci code that never ends
        "DBABzw~1YNN~BAAAAAAAAQA~1YNN",  # a section more than the header lists
        "DBACzZg~1YNN",  # fewer
        "DBABzw~1YNN~",
        "DBABLA~",
        "",
    ]
    strings += wrong_header
    library = gpp_library.library_decode(strings)
    counts = {"identical": 0, "not read": 0, "both refuse": 0, "stricter": 0}
    for string, theirs in zip(strings, library, strict=True):
        ours = gateway_reading(string)
        if isinstance(ours, dict) and "error" in theirs:
            # The library refuses a section the gateway keeps as text, unread.
            assert set(ours["sectionIds"]) - {6, 7}, (string, theirs)
            counts["not read"] += 1
        elif isinstance(ours, dict):
            assert ours == theirs, string
            counts["identical"] += 1
        elif "error" in theirs:
            counts["both refuse"] += 1
        else:
            assert ours.startswith(STRICTER), (string, ours, theirs)
            counts["stricter"] += 1
    for string in wrong_header:
        with pytest.raises(GppError):
            decode_gpp(string)
    assert min(counts.values()) > 0, counts


def test_refusals_say_why() -> None:
    cases = {
        "": "the header is cut short",
        "CBABzw~1YNN": "not a GPP string",
        "DCABzw~1YNN": "unknown GPP header version",
        "DBABAAAA~1YNN": "a bad Fibonacci code",
        "DBABzw~1YNN~BAAAAAAAAQA~1YNN": "fewer sections",
        "DBACzZg~1YNN": "more sections",
        "DB!Bzw~1YNN": "outside base64url",
        "DBABTA~ ": "section 6 is blank",
        "DBABTA~2YNN": "uspv1",
        "DBABTA~1YNX": "uspv1",
        "DBABLA~BAAQAAAAAQA.QA.QA": "more than one subsection",
        "DBABLA~BAAQAAAAAQA.wA": "unknown type",
        "DBABLA~BAAQAAAAAQA.": "GPC subsection is cut short",
        "DBABLA~BAAQAAAAAQAAA": "a version 1 core segment of 13 characters",
        "DBABLA~DAAQAAAAAQA": "unknown version 3",
        "DBABLA~BwAQAAAAAQA": "holds 3",
        "DBAB" + "A" * MAX_LENGTH: "longer than",
    }
    for string, reason in cases.items():
        with pytest.raises(GppError, match=reason):
            decode_gpp(string)


def test_an_empty_header_holds_no_section() -> None:
    gpp = decode_gpp("DBAA")
    assert gpp == GppString((), ())
    assert gpp_categories(gpp, GppMapping.load()) is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET + "~.", max_size=60) | st.text(max_size=60))
def test_nothing_but_gpp_error_escapes_from_any_text(text: str) -> None:
    for candidate in (text, "DBAB" + text, "DBABLA~" + text, "DBABTA~" + text):
        with contextlib.suppress(GppError):
            decode_gpp(candidate)


@pytest.mark.slow  # Node runs the library
def test_nothing_but_gpp_error_escapes_from_random_edits(
    library_strings: list[dict[str, Any]],
) -> None:
    rng = random.Random(SEED)
    pool = ALPHABET + "~.=+/ \x00é"
    for case in library_strings:
        string = case["string"]
        for _ in range(20):
            chars = list(string)
            for _ in range(rng.randint(1, 4)):
                where = rng.randrange(len(chars) + 1)
                action = rng.randrange(3)
                if action == 0:
                    chars.insert(where, rng.choice(pool))
                elif chars and action == 1:
                    del chars[min(where, len(chars) - 1)]
                elif chars:
                    chars[min(where, len(chars) - 1)] = rng.choice(pool)
            with contextlib.suppress(GppError):
                decode_gpp("".join(chars))


def test_a_wide_header_range_is_refused_before_it_is_expanded() -> None:
    # One range entry from id 1 to id 1 + 46,368: more ids than sections, refused at once.
    bits = "000011" + "000001" + "000000000001" + "1" + "11" + "0" * 22 + "11"
    bits += "0" * (-len(bits) % 6)
    header = "".join(ALPHABET[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))
    with pytest.raises(GppError, match="more sections"):
        decode_gpp(header + "~1YNN")


def usnat(**choices: int | bool | None) -> UsNat:
    fields: dict[str, Any] = {
        "version": 2,
        "sharing_notice": 1,
        "sale_opt_out_notice": 1,
        "sharing_opt_out_notice": 1,
        "targeted_advertising_opt_out_notice": 1,
        "sensitive_data_processing_opt_out_notice": 1,
        "sensitive_data_limit_use_notice": 1,
        "sale_opt_out": 2,
        "sharing_opt_out": 2,
        "targeted_advertising_opt_out": 2,
        "sensitive_data_processing": (2,) * 16,
        "known_child_sensitive_data_consents": (0,) * 3,
        "personal_data_consents": 0,
        "mspa_covered_transaction": 1,
        "mspa_opt_out_option_mode": 0,
        "mspa_service_provider_mode": 0,
        "gpc": None,
    }
    fields.update(choices)
    return UsNat(**fields)


def gpp_of(*sections: UsNat | UspV1) -> GppString:
    ids = tuple(7 if isinstance(s, UsNat) else 6 for s in sections)
    return GppString(ids, sections)


@pytest.mark.parametrize(
    ("gpp", "opt_outs", "granted"),
    [
        (gpp_of(usnat()), OptOuts(False, False, False, False, None), EVERYTHING),
        (gpp_of(usnat(sale_opt_out=1)), OptOuts(True, False, False, False, None), NO_MARKETING),
        (gpp_of(usnat(sharing_opt_out=1)), OptOuts(False, True, False, False, None), NO_MARKETING),
        (
            gpp_of(usnat(targeted_advertising_opt_out=1)),
            OptOuts(False, False, True, False, None),
            NO_MARKETING,
        ),
        (gpp_of(usnat(gpc=True)), OptOuts(False, False, False, False, True), NO_MARKETING),
        (gpp_of(usnat(gpc=False)), OptOuts(False, False, False, False, False), EVERYTHING),
        # Not applicable (0) is no opt-out.
        (
            gpp_of(usnat(sale_opt_out=0, sharing_opt_out=0)),
            OptOuts(False, False, False, False, None),
            EVERYTHING,
        ),
        # Sensitive data refused: recorded; no category is refused by it by default.
        (
            gpp_of(usnat(sensitive_data_processing=(2,) * 15 + (1,))),
            OptOuts(False, False, False, True, None),
            EVERYTHING,
        ),
        (
            gpp_of(usnat(known_child_sensitive_data_consents=(0, 1, 0))),
            OptOuts(False, False, False, True, None),
            EVERYTHING,
        ),
        (gpp_of(UspV1(1, "Y", "Y", "N")), OptOuts(True, False, False, False, None), NO_MARKETING),
        (gpp_of(UspV1(1, "Y", "N", "N")), OptOuts(False, False, False, False, None), EVERYTHING),
        (gpp_of(UspV1(1, "-", "-", "-")), OptOuts(False, False, False, False, None), EVERYTHING),
        # Both sections: an opt-out in either counts.
        (
            gpp_of(UspV1(1, "Y", "Y", "N"), usnat(sale_opt_out=2)),
            OptOuts(True, False, False, False, None),
            NO_MARKETING,
        ),
    ],
)
def test_opt_outs_and_the_categories_they_leave(
    gpp: GppString, opt_outs: OptOuts, granted: frozenset[Category]
) -> None:
    assert gpp_opt_outs(gpp) == opt_outs
    assert gpp_categories(gpp, GppMapping.load()) == granted


def test_a_string_with_only_sections_not_read_says_nothing() -> None:
    gpp = decode_gpp("DBABBg~BAQAAABA.QA")  # usca only
    assert gpp.sections[0].__class__.__name__ == "RawSection"
    assert gpp_categories(gpp, GppMapping.load()) is None


def test_a_decoded_string_maps_end_to_end() -> None:
    # uspv1 "1YYN" (opted out of sale) and usnat version 1 without a subsection.
    gpp = decode_gpp("DBABzw~1YYN~BAAAAAAAAQA")
    assert gpp.uspv1 == UspV1(1, "Y", "Y", "N")
    assert gpp.usnat is not None
    assert gpp.usnat.sensitive_data_processing == (0,) * 12
    assert gpp_categories(gpp, GppMapping.load()) == NO_MARKETING


def test_a_site_mapping_can_refuse_analytics_on_a_sale_opt_out(tmp_path: Path) -> None:
    path = tmp_path / "gpp.toml"
    path.write_text('[refused-by]\nmarketing = ["sale"]\nanalytics = ["sale", "sharing"]\n')
    mapping = GppMapping.load(path)
    granted = gpp_categories(gpp_of(UspV1(1, "Y", "Y", "N")), mapping)
    assert granted == frozenset({Category.ESSENTIAL, Category.PREFERENCES})
    # Targeted advertising is no longer listed: it refuses nothing.
    assert gpp_categories(gpp_of(usnat(targeted_advertising_opt_out=1)), mapping) == EVERYTHING


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[refused-by]\nessential = []\n", "not an optional category"),
        ("[refused-by]\nmarketing = ['sold']\n", "must list some of"),
        ("[refused-by]\nmarketing = 'sale'\n", "must list some of"),
        ("marketing = ['sale']\n", "one table"),
        ("[refused-by\n", "cannot read"),
    ],
)
def test_a_bad_mapping_file_is_refused_with_its_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "gpp.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=problem):
        GppMapping.load(path)


def test_the_docs_show_the_built_in_mapping_and_a_true_example() -> None:
    page = (Path(__file__).parents[2] / "docs" / "cmp" / "gpp.md").read_text()
    blocks = [block.split("```", 1)[0] for block in page.split("```toml\n")[1:]]
    toml_block = next(block for block in blocks if "[refused-by]" in block)
    documented = tomllib.loads(toml_block)["refused-by"]
    assert {Category(k): frozenset(v) for k, v in documented.items()} == dict(
        GppMapping.load().refused_by
    )
    example = page.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(example, "docs/cmp/gpp.md", "exec"), {})  # its asserts hold, as copied
    gpp = decode_gpp("DBABzw~1YYN~CVVWAAAAAACA.QA")
    assert gpp.section_ids == (6, 7)
    assert gpp.uspv1 == UspV1(1, "Y", "Y", "N")
    assert gpp_opt_outs(gpp) == OptOuts(True, True, False, False, False)
    assert gpp_categories(gpp, GppMapping.load()) == NO_MARKETING


def test_the_sites_refused_by_decides_over_the_rules_file() -> None:
    """``[consent_adapters.gpp] refused_by``: a site whose analytics vendor buys the data
    refuses analytics on a sale opt-out; a category it does not list keeps the file's."""
    opted_out_of_sale = [("__gpp", "DBABzw~1YYN~CVVWAAAAAACA.QA")]
    default = build(["gpp"], {})
    assert default.read(default.values(opted_out_of_sale)).granted == NO_MARKETING
    site = SiteTable(refused_by={Category.ANALYTICS: frozenset({"sale", "sharing"})})
    own = build(["gpp"], {"gpp": site})
    assert own.read(own.values(opted_out_of_sale)).granted == {
        Category.ESSENTIAL,
        Category.PREFERENCES,
    }
