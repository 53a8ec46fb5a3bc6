"""TC strings: the gateway's decoder against the IAB's own library (@iabtechlabtcf/core).

``tests/js/tcf_strings.js`` encodes random consents with the library (a Global Vendor List
fixture, ``tests/data/tcf-gvl.json``) and decodes them with it; the gateway must read every
field the same way, and refuse what the library refuses. Where the gateway is stricter than
the library, the reason is one of ``STRICTER`` (documented in docs/cmp/tcf.md).
"""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from gateway.consent.adapters import build
from gateway.consent.adapters.base import SiteTable
from gateway.consent.state import Category
from gateway.consent.tcf import (
    MAX_TC_STRING_LENGTH,
    TCString,
    TCStringError,
    VendorSet,
    check_tcf_table,
    decode_tc_string,
    load_tcf_table,
    tcf_categories,
)
from tests.support.js import node_module

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "js" / "tcf_strings.js"
GVL = ROOT / "tests" / "data" / "tcf-gvl.json"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Where the gateway refuses a string the library reads, the message says which rule.
STRICTER = (
    "is not two letters",  # a language or country code beyond A-Z
    "bits follow the last field",  # non-zero padding, or more than 23 bits of it
    "TCF 2.3",  # created from 2026-03-01 without the disclosed vendors segment
    "above its maximum",  # a range entry past the section's MaxVendorId
    "bad range",  # a range that ends before it starts
    "comes twice",  # an optional segment repeated (the library keeps the last)
    "not a TCF v2 segment",  # a second core segment
)


def library(*arguments: str, stdin: str | None = None) -> list[dict[str, Any]]:
    node_module("@iabtechlabtcf/core/package.json")
    result = subprocess.run(
        ["node", str(SCRIPT), *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    answer: list[dict[str, Any]] = json.loads(result.stdout)
    return answer


@cache
def generated() -> tuple[dict[str, Any], ...]:
    """240 random consents the library encoded, each with its own decoding."""
    return tuple(library("encode", str(GVL), "19", "240"))


def library_decode(strings: list[str]) -> list[dict[str, Any]]:
    return library("decode", stdin=json.dumps(strings))


def ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def as_library(tc: TCString) -> dict[str, Any]:
    """The gateway's reading in the library's terms (tcf_strings.js ``fields``)."""
    pub = tc.publisher_tc
    return {
        "version": tc.version,
        "created": ms(tc.created),
        "lastUpdated": ms(tc.last_updated),
        "cmpId": tc.cmp_id,
        "cmpVersion": tc.cmp_version,
        "consentScreen": tc.consent_screen,
        "consentLanguage": tc.consent_language,
        "vendorListVersion": tc.vendor_list_version,
        "policyVersion": tc.tcf_policy_version,
        "isServiceSpecific": tc.is_service_specific,
        "useNonStandardTexts": tc.use_non_standard_texts,
        "specialFeatureOptins": sorted(tc.special_feature_optins),
        "purposeConsents": sorted(tc.purposes_consent),
        "purposeLegitimateInterests": sorted(tc.purposes_li_transparency),
        "purposeOneTreatment": tc.purpose_one_treatment,
        "publisherCountryCode": tc.publisher_cc,
        "vendorConsents": sorted(tc.vendor_consents),
        "vendorLegitimateInterests": sorted(tc.vendor_legitimate_interests),
        "publisherRestrictions": [
            {"purposeId": p, "restrictionType": t, "vendors": sorted(v)}
            for p, t, v in tc.publisher_restrictions
        ],
        "segments": sorted(
            kind
            for kind, present in (
                (1, tc.disclosed_vendors is not None),
                (2, tc.allowed_vendors is not None),
                (3, pub is not None),
            )
            if present
        ),
        "vendorsDisclosed": sorted(tc.disclosed_vendors or ()),
        "vendorsAllowed": sorted(tc.allowed_vendors or ()),
        "publisherConsents": sorted(pub.purposes_consent) if pub else [],
        "publisherLegitimateInterests": sorted(pub.purposes_li_transparency) if pub else [],
        "numCustomPurposes": pub.num_custom_purposes if pub else 0,
        "publisherCustomConsents": sorted(pub.custom_purposes_consent) if pub else [],
        "publisherCustomLegitimateInterests": (
            sorted(pub.custom_purposes_li_transparency) if pub else []
        ),
    }


def normalised(fields: dict[str, Any]) -> dict[str, Any]:
    """The library's fields, restrictions in the gateway's order, segments as a set."""
    out = dict(fields)
    out["publisherRestrictions"] = sorted(
        (r for r in fields["publisherRestrictions"] if r["vendors"]),
        key=lambda r: (r["purposeId"], r["restrictionType"]),
    )
    out["segments"] = sorted(set(fields["segments"]))
    return out


def compare(entries: list[dict[str, Any]]) -> dict[str, int]:
    """Each string read by both: equal fields where both read it, the same refusal, or a
    refusal by the gateway for one of the ``STRICTER`` reasons. Counts each outcome."""
    counts = {"same": 0, "both refuse": 0, "stricter": 0}
    for entry in entries:
        string = entry["string"]
        try:
            mine, refusal = as_library(decode_tc_string(string)), ""
        except TCStringError as error:
            mine, refusal = None, str(error)
        if mine is None and entry["fields"] is None:
            counts["both refuse"] += 1
        elif mine is None:
            assert any(reason in refusal for reason in STRICTER), (string, refusal)
            counts["stricter"] += 1
        else:
            assert entry["fields"] is not None, (string, "the library refuses", entry["error"])
            assert mine == normalised(entry["fields"]), string
            counts["same"] += 1
    return counts


@pytest.mark.slow  # the library runs in Node
def test_decodes_every_field_as_the_library_does() -> None:
    entries = list(generated())
    assert compare(entries) == {"same": 240, "both refuse": 0, "stricter": 0}
    decoded = [decode_tc_string(e["string"]) for e in entries]
    # the encoder chose both vendor encodings, and every optional part occurs
    assert {tc.vendor_consents.ranged for tc in decoded} == {True, False}
    assert {tc.vendor_legitimate_interests.ranged for tc in decoded} == {True, False}
    assert {tc.disclosed_vendors is None for tc in decoded} == {True, False}
    assert sum(1 for tc in decoded if tc.publisher_restrictions) > 100
    assert sum(1 for tc in decoded if tc.publisher_tc and tc.publisher_tc.num_custom_purposes) > 50
    assert max(len(tc.vendor_consents) for tc in decoded) > 300


def bits_of(segment: str) -> str:
    return "".join(format(_ALPHABET.index(c), "06b") for c in segment)


def segment_of(bits: str) -> str:
    bits += "0" * (-len(bits) % 6)
    return "".join(_ALPHABET[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
HEADER_BITS = 213  # the core segment's fields before the vendor consents


def flipped(string: str, position: int, segment: int = 0) -> str:
    """``string`` with one bit of one segment (the core by default) flipped."""
    segments = string.split(".")
    bits = bits_of(segments[segment])
    bits = bits[:position] + ("1" if bits[position] == "0" else "0") + bits[position + 1 :]
    segments[segment] = segment_of(bits)
    return ".".join(segments)


@pytest.mark.slow  # the library runs in Node
def test_one_bit_edits_in_the_header_are_read_as_the_library_reads_them_or_refused() -> None:
    mutated = [flipped(e["string"], bit) for e in generated()[:40] for bit in range(HEADER_BITS)]
    counts = compare(library_decode(mutated))
    assert counts["both refuse"] > 0 and counts["stricter"] > 0 and counts["same"] > 0


@pytest.mark.slow  # the library runs in Node
def test_one_bit_edits_anywhere_are_read_as_the_library_reads_them_or_refused() -> None:
    chooser = random.Random(7)
    mutated = []
    for entry in generated():
        segments = entry["string"].split(".")
        for _ in range(20):
            segment = chooser.randrange(len(segments))
            position = chooser.randrange(6 * len(segments[segment]))
            mutated.append(flipped(entry["string"], position, segment))
    counts = compare(library_decode(mutated))
    assert counts["same"] > 0 and counts["both refuse"] + counts["stricter"] > 0


@pytest.mark.slow  # the library runs in Node
def test_strings_cut_short_are_refused_or_read_as_the_library_reads_them() -> None:
    cut = []
    for entry in generated()[:30]:
        string = entry["string"]
        cut += [string[:length] for length in range(1, len(string), 3)]
    counts = compare(library_decode(cut))
    assert counts["both refuse"] > len(cut) // 2


@pytest.mark.slow  # the library runs in Node
@pytest.mark.parametrize(
    "suffix",
    ["A", "=", "==", "A=", "AAAA", "AAAAAAAA", "_", "8", ".", "..", ".A", ".AAAA", " ", "+/"],
)
def test_wrong_padding_and_garbage_appended_are_refused_or_read_alike(suffix: str) -> None:
    strings = [e["string"] + suffix for e in generated()[:30]]
    counts = compare(library_decode(strings))
    assert counts["same"] == 0 or suffix in ("A", "AAAA")


@pytest.mark.slow  # the library runs in Node
def test_tcf_2_3_needs_the_disclosed_vendors_segment_from_march_2026() -> None:
    late = [
        e["string"]
        for e in generated()
        if e["fields"]["created"] >= ms(datetime(2026, 3, 1, tzinfo=UTC))
    ]
    assert late and all(decode_tc_string(s).disclosed_vendors is not None for s in late)
    stripped = [s.split(".")[0] for s in late]
    library_reading = library_decode(stripped)
    assert all(entry["fields"] is not None for entry in library_reading)  # it accepts them
    for string in stripped:
        with pytest.raises(TCStringError, match=r"TCF 2\.3"):
            decode_tc_string(string)
    early = [e["string"].split(".")[0] for e in generated() if e["string"] not in late]
    assert all(decode_tc_string(s).disclosed_vendors is None for s in early[:20])


def fuzz_strings(seed: int) -> list[str]:
    chooser = random.Random(seed)
    strings = []
    for _ in range(3000):
        size = chooser.randrange(0, 400)
        raw = chooser.randbytes(size)
        strings.append(raw.decode("latin-1"))
        strings.append(base64.urlsafe_b64encode(raw).decode().rstrip("="))
        strings.append("C" + "".join(chooser.choice(_ALPHABET + ".") for _ in range(size)))
        strings.append("CQ" + base64.urlsafe_b64encode(raw).decode().rstrip("=").replace("A", "."))
    return strings


def edited_strings(seed: int) -> list[str]:
    """Valid strings (ranges, a bit field, restrictions, optional segments) edited at random:
    characters replaced, inserted, deleted, segments cut or repeated."""
    ranges = format(900, "016b") + "1" + format(3, "012b")
    ranges += "0" + format(4, "016b") + ("1" + format(10, "016b") + format(900, "016b")) * 2
    restrictions = format(2, "012b") + restriction(2, 1) + restriction(7, 0)
    disclosed = segment_of("001" + format(12, "016b") + "0" + "101010101010")
    publisher = segment_of("011" + "1" * 48 + "000011" + "101" + "011")
    valid = [
        encode(core_bits(ranges, restrictions), disclosed, publisher),
        encode(core_bits(format(30, "016b") + "0" + "10" * 15), publisher, disclosed),
    ]
    tc = decode_tc_string(valid[0])
    assert len(tc.vendor_consents) == 1 + 891 and len(tc.publisher_restrictions) == 2
    assert tc.publisher_tc and tc.publisher_tc.custom_purposes_consent == {1, 3}
    chooser = random.Random(seed)
    strings = []
    for _ in range(4000):
        text = list(chooser.choice(valid))
        for _ in range(chooser.randrange(1, 4)):
            where = chooser.randrange(len(text) + 1)
            edit = chooser.randrange(4)
            if edit == 0:
                text[where : where + 1] = chooser.choice(_ALPHABET + ".=")
            elif edit == 1:
                text.insert(where, chooser.choice(_ALPHABET))
            elif edit == 2:
                del text[where:]
            else:
                text += text[where:]
        strings.append("".join(text))
    return strings


def test_fuzz_nothing_but_tcstringerror_escapes() -> None:
    read = 0
    for string in fuzz_strings(19) + edited_strings(19):
        try:
            decode_tc_string(string)
            read += 1
        except TCStringError:
            pass
    assert 0 < read < 16000
    for wrong in (None, 7, b"CQ", ["CQ"]):
        with pytest.raises(TCStringError):
            decode_tc_string(wrong)  # type: ignore[arg-type]


def core_bits(vendor_section: str, restrictions: str = "000000000000") -> str:
    """A core segment's bits: a fixed header (version 2, created 2025) then the sections."""
    header = (
        format(2, "06b")
        + format(17_400_000_000, "036b") * 2
        + format(7, "012b") * 2
        + "000001"
        + "000100001101"  # EN
        + format(142, "012b")
        + format(5, "06b")
        + "00"
        + "0" * 12
        + "1" * 11
        + "0" * 13
        + "0" * 24
        + "0"
        + "000011000101"  # DE
    )
    assert len(header) == HEADER_BITS
    return header + vendor_section + "0" * 17 + restrictions


def encode(bits: str, *segments: str) -> str:
    bits += "0" * (-len(bits) % 24)
    return ".".join((segment_of(bits), *segments))


def test_a_range_claiming_every_vendor_costs_its_bits_not_its_vendors() -> None:
    every = format(65535, "016b") + "1" + format(1, "012b") + "1" + format(1, "016b")
    every += format(65535, "016b")
    restriction = "000010" + "01" + format(1, "012b") + ("1" + format(1, "016b") + "1" * 16)
    restrictions = format(4095, "012b") + restriction * 4095  # 4,095 times the same claim
    string = encode(core_bits(every, restrictions))
    assert len(string) < MAX_TC_STRING_LENGTH
    tracemalloc.start()
    tc = decode_tc_string(string)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(tc.vendor_consents) == 65535 and 65535 in tc.vendor_consents
    assert 0 not in tc.vendor_consents and 65536 not in tc.vendor_consents
    assert [(p, t, len(v)) for p, t, v in tc.publisher_restrictions] == [(2, 1, 65535)]
    # 4,095 range entries of 65,535 vendors each merge into one range; decoding holds the entries
    # read (a few MB at most), never a set of 65,535 vendor ids per entry
    assert peak < 8 * 1024 * 1024, peak
    assert sys.getsizeof(tc.vendor_consents) < 100


def test_length_is_bounded() -> None:
    with pytest.raises(TCStringError, match="longer than"):
        decode_tc_string("C" * (MAX_TC_STRING_LENGTH + 1))


@pytest.mark.parametrize(
    ("string", "reason"),
    [
        ("", "empty"),
        ("CQ.", "empty"),
        ("CQ.A.A.A.A", "more than four segments"),
        ("CQ==", "base64url"),
        ("CQ+/", "base64url"),
        ("BQ", "version"),
        ("CQ", "cut short"),
        ("DQAAAAAAAAAA", "version"),
    ],
)
def test_malformed_strings_say_why(string: str, reason: str) -> None:
    with pytest.raises(TCStringError, match=reason):
        decode_tc_string(string)


def test_segments_after_the_core_are_checked() -> None:
    disclosed = segment_of("001" + format(3, "016b") + "0" + "101" + "0" * 5)
    core = core_bits(format(0, "016b") + "0")
    assert set(decode_tc_string(encode(core, disclosed)).disclosed_vendors or ()) == {1, 3}
    for segments, reason in (
        ((disclosed, disclosed), "comes twice"),
        ((segment_of("1110" + "0" * 20),), "not a TCF v2 segment"),
        ((segment_of("001" + "1" * 20),), "bits follow|cut short|above"),
        ((segment_of("011" + "0" * 48 + "000011" + "1"),), "cut short"),
    ):
        with pytest.raises(TCStringError, match=reason):
            decode_tc_string(encode(core, *segments))


@pytest.mark.slow  # the library runs in Node
def test_categories_follow_the_default_table() -> None:
    table = load_tcf_table()
    assert table == {
        "preferences": {1, 5, 6},
        "analytics": {1, 7, 8, 9, 10},
        "marketing": {1, 2, 3, 4},
    }
    by_purposes = {}
    for entry in generated():
        tc = decode_tc_string(entry["string"])
        granted = tcf_categories(tc, table)
        consented = tc.purposes_consent
        assert granted == {c for c, needed in table.items() if needed <= consented}
        by_purposes[granted] = consented
    assert frozenset() in by_purposes and len(by_purposes) >= 4


def test_categories_need_purpose_one_in_the_default_table() -> None:
    bits = core_bits(format(0, "016b") + "0")
    table = load_tcf_table()
    everything = decode_tc_string(encode(bits))  # purposes 1 to 11
    assert tcf_categories(everything, table) == {"preferences", "analytics", "marketing"}
    no_storage = decode_tc_string(encode(bits[:152] + "0" + bits[153:]))
    assert no_storage.purposes_consent == frozenset(range(2, 12))
    assert tcf_categories(no_storage, table) == frozenset()
    assert tcf_categories(no_storage, {"analytics": [8]}) == {"analytics"}


@pytest.mark.slow  # the library runs in Node
def test_the_sites_purposes_decide_and_answers_are_remembered_by_string() -> None:
    source = build(["tcf"], {"tcf": SiteTable(purposes={"analytics": frozenset({1, 8})})})
    string = generated()[1]["string"]
    values = source.values([("euconsent-v2", string)])
    first = source.read(values)
    assert source.read(values) is first
    assert (source.choices.hits, source.choices.misses) == (1, 1)
    tc = decode_tc_string(string)
    table = {**load_tcf_table(), "analytics": frozenset({1, 8})}
    expected = {Category.ESSENTIAL, *map(Category, tcf_categories(tc, table))}
    assert first.granted == expected and first.source is not None
    cut = source.values([("euconsent-v2", "CQ")])
    assert source.read(cut).invalid and source.read(cut).granted is None
    assert source.choices.hits == 2


@pytest.mark.parametrize(
    "table",
    [{"statistics": [1]}, {"analytics": []}, {"analytics": [0]}, {"analytics": "17"}],
)
def test_a_wrong_table_is_refused(table: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="TCF table"):
        check_tcf_table(table)


def test_a_wrong_table_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tcf.toml"
    path.write_text("[categories]\nanalytics = [1, 25]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="1 to 24"):
        load_tcf_table(path)
    path.write_text("analytics = [1]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[categories\]"):
        load_tcf_table(path)


def restriction(purpose: int, kind: int) -> str:
    """One publisher restriction, on vendor 5 (NumPubRestrictions not included)."""
    return (
        format(purpose, "06b") + format(kind, "02b") + format(1, "012b") + "0" + format(5, "016b")
    )


@pytest.mark.slow  # the library runs in Node
def test_where_the_gateway_is_stricter_than_the_library_and_where_both_refuse() -> None:
    empty = "0" * 17
    disclosed = segment_of("001" + format(3, "016b") + "0" + "101")
    stricter = {
        "above its maximum": core_bits(
            format(3, "016b") + "1" + format(1, "012b") + "0" + format(9, "016b")
        ),
        "bad range": core_bits(
            format(9, "016b")
            + "1"
            + format(1, "012b")
            + "1"
            + format(9, "016b")
            + format(3, "016b")
        ),
        "comes twice": core_bits(empty),
    }
    strings = {reason: encode(bits) for reason, bits in stricter.items()}
    strings["comes twice"] = encode(stricter["comes twice"], disclosed, disclosed)
    for entry, (reason, string) in zip(
        library_decode(list(strings.values())), strings.items(), strict=True
    ):
        assert entry["fields"] is not None, reason
        with pytest.raises(TCStringError, match=reason):
            decode_tc_string(string)
    refused = [
        encode(core_bits(empty, format(1, "012b") + restriction(2, 3))),
        encode(core_bits(empty, format(1, "012b") + restriction(0, 1))),
        encode(core_bits(format(3, "016b") + "1" + format(1, "012b") + "0" + "0" * 16)),
        encode(core_bits(empty), segment_of("101" + "0" * 21)),
    ]
    assert compare(library_decode(refused)) == {"same": 0, "both refuse": 4, "stricter": 0}


def test_vendor_sets_behave_as_frozen_sets_in_either_encoding() -> None:
    bit_field = decode_tc_string(
        encode(core_bits(format(6, "016b") + "0" + "100101"))
    ).vendor_consents
    ranged = VendorSet.from_ranges([(6, 6), (1, 1), (4, 4), (4, 4)])
    for vendors in (bit_field, ranged):
        assert vendors == frozenset({1, 4, 6}) and frozenset({1, 4, 6}) == vendors
        assert list(vendors) == [1, 4, 6] and len(vendors) == 3
        assert hash(vendors) == hash(frozenset({1, 4, 6}))
        assert 4 in vendors and 5 not in vendors and 0 not in vendors and 7 not in vendors
        assert "4" not in vendors and None not in vendors
        assert vendors & {4, 5} == {4}
    assert not bit_field.ranged and ranged.ranged
    assert list(VendorSet.from_ranges([(3, 9), (1, 4), (11, 12)])) == [*range(1, 10), 11, 12]
    assert len(VendorSet()) == 0 and list(VendorSet()) == []
    assert repr(ranged) == "VendorSet([1, 4, 6])"
    assert repr(VendorSet.from_ranges([(1, 65535)])) == "VendorSet(<65535>)"


def test_strings_read_through_the_tcf_adapter() -> None:
    source = build(["tcf"], {})
    bits = core_bits(format(0, "016b") + "0")
    strings = [encode(bits), encode(bits[:152] + "0" + bits[153:]), encode(bits) + ".BAAA"]
    readings = [source.read(source.values([("euconsent-v2", s)])) for s in strings]
    assert [r.granted for r in readings] == [frozenset(Category), {Category.ESSENTIAL}, None]
    assert [r.invalid for r in readings] == [False, False, True]
