"""IAB TCF v2.2/2.3 TC strings: decoded, checked, and mapped onto the gateway's categories.

A TC string is what a registered TCF CMP stores (the ``euconsent-v2`` cookie): dot-separated
base64url segments, the core segment first. Each segment is decoded to bytes once; a field
is ``int.from_bytes`` of the few bytes it spans, shifted and masked (the core's fixed fields,
207 bits, in one read). Anything malformed raises ``TCStringError``, never another
exception: the caller treats it as no consent.

Vendor sets are kept the way they were encoded, so decoding costs what the string costs: a
bit field as its bits, a range encoding as its merged range bounds. A 33-bit range entry
claiming vendors 1 to 65535 costs two numbers, not 65,535 (``VendorSet``).
"""

from __future__ import annotations

import base64
import binascii
import re
import tomllib
from array import array
from bisect import bisect_right
from collections.abc import Collection, Iterable, Iterator, Mapping, Set
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.consent.state import OPTIONAL_CATEGORIES
from gateway.resources import rules_dir

MAX_TC_STRING_LENGTH = 64 * 1024  # characters; a cookie is at most 4 KiB anyway
# TCF 2.3: from this day, a TC string without the disclosed-vendors segment is invalid.
DISCLOSED_VENDORS_REQUIRED_FROM = datetime(2026, 3, 1, tzinfo=UTC)
# An encoder pads a segment to whole base64 characters, bytes or (the IAB's own library)
# 24 bits: more than 23 bits left after the last field are not padding but something else.
_MAX_PADDING_BITS = 23

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Segment types after the core (the first three bits of a segment; the core's are 000)
_DISCLOSED, _ALLOWED, _PUBLISHER = 1, 2, 3
_SEGMENT_NAMES = {
    _DISCLOSED: "disclosed vendors",
    _ALLOWED: "allowed vendors",
    _PUBLISHER: "publisher TC",
}


class TCStringError(ValueError):
    """The TC string cannot be read: it means no consent."""


class VendorSet(Set[int]):
    """Vendor ids, stored as encoded: a bit field's bits (vendor 1 the highest of
    ``width``), or sorted, merged bounds ``[start, end + 1, ...]`` of ranges. Membership
    is one shift or one bisection; only iterating walks the vendors one by one."""

    __slots__ = ("_bits", "_bounds", "_width")

    def __init__(self, bits: int = 0, width: int = 0, bounds: array[int] | None = None) -> None:
        self._bits = bits
        self._width = width
        self._bounds = bounds

    @classmethod
    def from_ranges(cls, ranges: list[tuple[int, int]]) -> VendorSet:
        """The vendors in the inclusive ``ranges``, overlapping or not, in any order."""
        bounds: array[int] = array("I")
        for start, end in sorted(ranges):
            if bounds and start <= bounds[-1]:
                bounds[-1] = max(bounds[-1], end + 1)
            else:
                bounds.append(start)
                bounds.append(end + 1)
        return cls(bounds=bounds)

    def __contains__(self, vendor: object) -> bool:
        if not isinstance(vendor, int):
            return False
        if self._bounds is not None:
            return bool(bisect_right(self._bounds, vendor) & 1)
        return 0 < vendor <= self._width and bool(self._bits >> (self._width - vendor) & 1)

    def __len__(self) -> int:
        bounds = self._bounds
        if bounds is not None:
            return sum(bounds[1::2]) - sum(bounds[0::2])
        return self._bits.bit_count()

    def __iter__(self) -> Iterator[int]:
        bounds = self._bounds
        if bounds is not None:
            for index in range(0, len(bounds), 2):
                yield from range(bounds[index], bounds[index + 1])
        elif self._bits:
            text = format(self._bits, f"0{self._width}b")
            for match in re.finditer("1", text):
                yield match.start() + 1

    @classmethod
    def _from_iterable(cls, values: Iterable[int]) -> frozenset[int]:  # type: ignore[override]
        """Set operations (``&``, ``|``, ``-``) answer frozensets."""
        return frozenset(values)

    @property
    def ranged(self) -> bool:
        """Whether the string held ranges (or a bit field): how its encoder chose."""
        return self._bounds is not None

    def __hash__(self) -> int:
        return self._hash()

    def __repr__(self) -> str:
        return f"VendorSet({sorted(self)!r})" if len(self) <= 20 else f"VendorSet(<{len(self)}>)"


EMPTY_VENDORS = VendorSet()


@dataclass(frozen=True, slots=True)
class PublisherTC:
    """The publisher TC segment: the site's own purposes and its custom purposes."""

    purposes_consent: frozenset[int]
    purposes_li_transparency: frozenset[int]
    num_custom_purposes: int
    custom_purposes_consent: frozenset[int]
    custom_purposes_li_transparency: frozenset[int]


@dataclass(frozen=True, slots=True)
class TCString:
    """A decoded TC string (TCF v2): the core segment and the optional segments."""

    version: int
    created: datetime
    last_updated: datetime
    cmp_id: int
    cmp_version: int
    consent_screen: int
    consent_language: str
    vendor_list_version: int
    tcf_policy_version: int
    is_service_specific: bool
    use_non_standard_texts: bool
    special_feature_optins: frozenset[int]
    purposes_consent: frozenset[int]
    purposes_li_transparency: frozenset[int]
    purpose_one_treatment: bool
    publisher_cc: str
    vendor_consents: VendorSet
    vendor_legitimate_interests: VendorSet
    # (purpose id, restriction type, vendors), sorted; one entry per purpose and type
    publisher_restrictions: tuple[tuple[int, int, VendorSet], ...]
    disclosed_vendors: VendorSet | None
    allowed_vendors: VendorSet | None
    publisher_tc: PublisherTC | None


class _Bits:
    """A segment's bits, read from the first: each field is ``int.from_bytes`` of the few
    bytes it spans, shifted and masked. (Shifting one integer of the whole segment would cost
    each read the segment's length: a range encoding of 400 entries took 3.6 ms.)"""

    __slots__ = ("length", "name", "position", "raw")

    def __init__(self, segment: str, name: str) -> None:
        extra = -len(segment) % 4  # "A" is six zero bits: whole bytes, zeros after the end
        try:
            # eight zero bytes after the end: a read of a few bytes never comes up short
            self.raw = base64.urlsafe_b64decode(segment + "A" * extra) + bytes(8)
        except (binascii.Error, ValueError):  # pragma: no cover - the pattern was checked
            raise TCStringError(f"{name} segment: not base64url") from None
        self.length = 6 * len(segment)
        self.position = 0
        self.name = name

    def read(self, width: int, field: str) -> int:
        start = self.position
        end = start + width
        if end > self.length:
            raise TCStringError(f"{self.name} segment: cut short in {field}")
        self.position = end
        last = (end + 7) >> 3
        chunk = int.from_bytes(self.raw[start >> 3 : last], "big")
        return (chunk >> ((last << 3) - end)) & ((1 << width) - 1)

    def ids(self, width: int, field: str) -> frozenset[int]:
        """A fixed bit field of ``width`` bits: the ids (from 1) whose bit is set."""
        return _ids(self.read(width, field), width)

    def vendors(self, field: str) -> VendorSet:
        """A vendor section: MaxVendorId, then a bit field or range entries."""
        max_id = self.read(16, field)
        if not self.read(1, field):
            return VendorSet(self.read(max_id, field), max_id)
        ranges = self.ranges(field)
        if ranges and max(end for _, end in ranges) > max_id:
            raise TCStringError(f"{self.name} segment: {field} names a vendor above its maximum")
        return VendorSet.from_ranges(ranges)

    def ranges(self, field: str) -> list[tuple[int, int]]:
        """NumEntries, then each a single vendor id or a start and end id (inclusive). Each
        entry (17 or 33 bits) is cut out of the six bytes it lies in, in one go."""
        count = self.read(12, field)
        raw, position, length = self.raw, self.position, self.length
        ranges = []
        for _ in range(count):
            byte = position >> 3
            chunk = int.from_bytes(raw[byte : byte + 6], "big")
            left = 48 - (position & 7)  # bits of ``chunk`` from ``position`` on
            start = chunk >> (left - 17) & 0xFFFF
            if chunk >> (left - 1) & 1:
                end = chunk >> (left - 33) & 0xFFFF
                position += 33
            else:
                end = start
                position += 17
            if position > length:
                raise TCStringError(f"{self.name} segment: cut short in {field}")
            if start == 0 or end < start:
                raise TCStringError(f"{self.name} segment: {field} has a bad range {start}-{end}")
            ranges.append((start, end))
        self.position = position
        return ranges

    def finish(self) -> None:
        """What follows the last field is padding: a few zero bits."""
        left = self.length - self.position
        if left > _MAX_PADDING_BITS or self.read(left, "padding"):
            raise TCStringError(f"{self.name} segment: {left} bits follow the last field")


def _ids(bits: int, width: int) -> frozenset[int]:
    """The ids (from 1, the highest of ``width`` bits) whose bit is set."""
    return frozenset(i for i in range(1, width + 1) if bits >> (width - i) & 1)


def _letters(code: int, field: str) -> str:
    """Two letters, six bits each, A as 0."""
    first, second = code >> 6, code & 63
    if first > 25 or second > 25:
        raise TCStringError(f"core segment: {field} is not two letters")
    return chr(65 + first) + chr(65 + second)


def _time(deciseconds: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=100 * deciseconds)


def decode_tc_string(value: str) -> TCString:
    """The TC string ``value``, every field checked; ``TCStringError`` says what is wrong."""
    if not isinstance(value, str):
        raise TCStringError("a TC string is text")
    if len(value) > MAX_TC_STRING_LENGTH:
        raise TCStringError(f"longer than {MAX_TC_STRING_LENGTH} characters")
    segments = value.split(".", 4)
    if len(segments) > 4:
        raise TCStringError("more than four segments (the core and three optional ones)")
    for segment in segments:
        if not _BASE64URL.fullmatch(segment):
            raise TCStringError("a segment is empty or not base64url (A-Z a-z 0-9 - _)")
    core = _Bits(segments[0], "core")
    version = core.read(6, "Version")
    if version != 2:
        raise TCStringError(f"version {version}, not 2 (TCF v2), or the core segment is not first")
    # Created to PublisherCC: 207 bits of fixed fields, read at once, taken from the right
    header = core.read(207, "the fields from Created to PublisherCC")
    country = header & 0xFFF
    purpose_one_treatment = bool(header >> 12 & 1)
    purposes_li_transparency = _ids(header >> 13 & 0xFFFFFF, 24)
    purposes_consent = _ids(header >> 37 & 0xFFFFFF, 24)
    special_feature_optins = _ids(header >> 61 & 0xFFF, 12)
    use_non_standard_texts = bool(header >> 73 & 1)
    is_service_specific = bool(header >> 74 & 1)
    tcf_policy_version = header >> 75 & 0x3F
    vendor_list_version = header >> 81 & 0xFFF
    consent_language = _letters(header >> 93 & 0xFFF, "ConsentLanguage")
    publisher_cc = _letters(country, "PublisherCC")
    consent_screen = header >> 105 & 0x3F
    cmp_version = header >> 111 & 0xFFF
    cmp_id = header >> 123 & 0xFFF
    last_updated = _time(header >> 135 & 0xFFFFFFFFF)
    created = _time(header >> 171)
    vendor_consents = core.vendors("VendorConsents")
    vendor_legitimate_interests = core.vendors("VendorLegitimateInterests")
    restricted: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for _ in range(core.read(12, "NumPubRestrictions")):
        key = (core.read(6, "PurposeId"), core.read(2, "RestrictionType"))
        if key[0] == 0 or key[1] == 3:
            raise TCStringError(f"core segment: publisher restriction {key} is not defined")
        restricted.setdefault(key, []).extend(core.ranges("PubRestrictionEntry"))
    core.finish()
    optional: dict[int, _Bits] = {}
    for segment in segments[1:]:
        kind = _ALPHABET.index(segment[0]) >> 3
        if kind not in _SEGMENT_NAMES:
            raise TCStringError(f"segment type {kind} is not a TCF v2 segment after the core")
        if kind in optional:
            raise TCStringError(f"the {_SEGMENT_NAMES[kind]} segment comes twice")
        bits = optional[kind] = _Bits(segment, _SEGMENT_NAMES[kind])
        bits.read(3, "SegmentType")
    disclosed_vendors = allowed_vendors = None
    publisher_tc = None
    if _DISCLOSED in optional:
        disclosed_vendors = optional[_DISCLOSED].vendors("DisclosedVendors")
    if _ALLOWED in optional:
        allowed_vendors = optional[_ALLOWED].vendors("AllowedVendors")
    if _PUBLISHER in optional:
        publisher_tc = _publisher_tc(optional[_PUBLISHER])
    for bits in optional.values():
        bits.finish()
    if disclosed_vendors is None and created >= DISCLOSED_VENDORS_REQUIRED_FROM:
        raise TCStringError(
            "created after 2026-02-28 without the disclosed vendors segment (TCF 2.3)"
        )
    return TCString(
        version=version,
        created=created,
        last_updated=last_updated,
        cmp_id=cmp_id,
        cmp_version=cmp_version,
        consent_screen=consent_screen,
        consent_language=consent_language,
        vendor_list_version=vendor_list_version,
        tcf_policy_version=tcf_policy_version,
        is_service_specific=is_service_specific,
        use_non_standard_texts=use_non_standard_texts,
        special_feature_optins=special_feature_optins,
        purposes_consent=purposes_consent,
        purposes_li_transparency=purposes_li_transparency,
        purpose_one_treatment=purpose_one_treatment,
        publisher_cc=publisher_cc,
        vendor_consents=vendor_consents,
        vendor_legitimate_interests=vendor_legitimate_interests,
        publisher_restrictions=tuple(
            (purpose, kind, VendorSet.from_ranges(ranges))
            for (purpose, kind), ranges in sorted(restricted.items())
            if ranges  # a restriction on no vendor restricts nothing
        ),
        disclosed_vendors=disclosed_vendors,
        allowed_vendors=allowed_vendors,
        publisher_tc=publisher_tc,
    )


def _publisher_tc(bits: _Bits) -> PublisherTC:
    purposes_consent = bits.ids(24, "PubPurposesConsent")
    purposes_li_transparency = bits.ids(24, "PubPurposesLITransparency")
    count = bits.read(6, "NumCustomPurposes")
    return PublisherTC(
        purposes_consent=purposes_consent,
        purposes_li_transparency=purposes_li_transparency,
        num_custom_purposes=count,
        custom_purposes_consent=bits.ids(count, "CustomPurposesConsent"),
        custom_purposes_li_transparency=bits.ids(count, "CustomPurposesLITransparency"),
    )


def load_tcf_table(path: Path | None = None) -> dict[str, frozenset[int]]:
    """The purposes each category needs, from ``path`` (default: ``rules/tcf.toml``);
    ``ValueError`` names the problem."""
    path = path or rules_dir() / "tcf.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"{path}: cannot read the TCF purposes ({error})") from None
    categories = data.get("categories")
    if set(data) != {"categories"} or not isinstance(categories, dict):
        raise ValueError(f"{path}: must hold only a [categories] table")
    return check_tcf_table(categories, str(path))


def check_tcf_table(
    table: Mapping[str, object], origin: str = "TCF table"
) -> dict[str, frozenset[int]]:
    """``table`` checked: known optional categories, each a non-empty list of purpose ids."""
    known = {str(category) for category in OPTIONAL_CATEGORIES}
    checked: dict[str, frozenset[int]] = {}
    for category, purposes in table.items():
        if category not in known:
            raise ValueError(f"{origin}: {category!r} is not one of {sorted(known)}")
        if (
            isinstance(purposes, str | bytes)
            or not isinstance(purposes, Collection)
            or not purposes
            or not all(type(p) is int and 1 <= p <= 24 for p in purposes)
        ):
            raise ValueError(f"{origin}: {category} must list TCF purpose ids from 1 to 24")
        checked[category] = frozenset(purposes)
    return checked


def tcf_categories(tc: TCString, table: Mapping[str, Collection[int]]) -> frozenset[str]:
    """The optional categories ``tc`` grants by ``table`` (``load_tcf_table``): those whose
    purposes all have consent."""
    consented = tc.purposes_consent
    return frozenset(
        category
        for category, purposes in table.items()
        if purposes and consented.issuperset(purposes)
    )
