"""The IAB Global Privacy Platform (GPP) string, decoded, and what it means under opt-out.

A GPP string (the ``__gpp`` cookie a CMP writes, or a header) is a header section and the
sections it lists, joined by ``~``: ``DBABLA~BVQqAAAAAgA.QA``. The header is type 3, version 1
and the section ids as a Fibonacci-coded integer range. The gateway reads two sections:
``usnat`` (id 7, the US national privacy section: its core segment, versions 1 and 2, and the
optional GPC subsection) and ``uspv1`` (id 6, the four characters of the US Privacy string).
Every other section (the TCF ones, the state sections) is kept as its raw text, not decoded.

The decoder agrees field by field with the IAB's own library (``@iabgpp/cmpapi``, checked by
``tests/consent/test_gpp.py``) on every string both accept; it refuses some strings the
library reads, so that a damaged string is never taken for a choice: an empty string, a
header version other than 1, a section id coded in more than 24 bits, a ``usnat`` length
that does not match its version, a 2-bit value of 3, a GPC subsection of another type, more
than one subsection, and a ``uspv1`` string other than ``1`` and three of ``Y``, ``N``,
``-``. Anything malformed raises ``GppError``, a ``ValueError``, and nothing else; the
input's length and the work per string are bounded.

Which opt-out refuses which category is data: ``rules/gpp.toml``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.consent.state import OPTIONAL_CATEGORIES, Category
from gateway.resources import rules_dir

MAX_LENGTH = 16_384  # characters: a cookie holds 4 KB; a header with TCF sections a few more
USPV1_ID = 6
USNAT_ID = 7
_HEADER_TYPE = 3
_HEADER_VERSION = 1
_MAX_FIBONACCI_BITS = 24  # an id step of at most 121,392: registered ids are below 30
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_BITS = {char: format(index, "06b") for index, char in enumerate(_ALPHABET)}
_VALUES = {char: index for index, char in enumerate(_ALPHABET)}
# A character's three 2-bit values: usnat's fields after its 6-bit version are all 2 bits
_PAIRS = {char: (index >> 4, index >> 2 & 3, index & 3) for index, char in enumerate(_ALPHABET)}
_FIBONACCI = [1, 2]
while len(_FIBONACCI) < _MAX_FIBONACCI_BITS:
    _FIBONACCI.append(_FIBONACCI[-1] + _FIBONACCI[-2])
# usnat core segment, by version: (count of sensitive data processing entries, of known child
# sensitive data consents, accepted lengths in characters). Version 1 is 60 bits, version 2
# is 70; a CMP pads to whole bytes, then to whole characters (11 and 12 characters).
_USNAT_LAYOUTS = {1: (12, 2, (10, 11)), 2: (16, 3, (12,))}
_USP_CHOICES = frozenset("YN-")
SIGNALS = ("sale", "sharing", "targeted_advertising", "sensitive_data", "gpc")


class GppError(ValueError):
    """The GPP string is malformed: the reason, never the string (it may be long)."""


@dataclass(frozen=True, slots=True)
class UsNat:
    """The ``usnat`` section. 2-bit fields: 0 not applicable, 1 yes (notice given, opted out,
    no consent), 2 no; ``gpc`` is ``None`` without the GPC subsection."""

    version: int
    sharing_notice: int
    sale_opt_out_notice: int
    sharing_opt_out_notice: int
    targeted_advertising_opt_out_notice: int
    sensitive_data_processing_opt_out_notice: int
    sensitive_data_limit_use_notice: int
    sale_opt_out: int
    sharing_opt_out: int
    targeted_advertising_opt_out: int
    sensitive_data_processing: tuple[int, ...]  # 12 entries in version 1, 16 in version 2
    known_child_sensitive_data_consents: tuple[int, ...]  # 2 in version 1, 3 in version 2
    personal_data_consents: int
    mspa_covered_transaction: int
    mspa_opt_out_option_mode: int
    mspa_service_provider_mode: int
    gpc: bool | None


@dataclass(frozen=True, slots=True)
class UspV1:
    """The ``uspv1`` section: the US Privacy string, ``1YNN``; each choice ``Y``, ``N`` or
    ``-`` (not applicable)."""

    version: int
    notice: str
    opt_out_sale: str
    lspa_covered: str


@dataclass(frozen=True, slots=True)
class RawSection:
    """A section the gateway does not read, kept as its text."""

    section_id: int
    text: str


Section = UsNat | UspV1 | RawSection


@dataclass(frozen=True, slots=True)
class GppString:
    """A decoded GPP string: the header's section ids and the sections in the same order."""

    section_ids: tuple[int, ...]
    sections: tuple[Section, ...]

    @property
    def usnat(self) -> UsNat | None:
        for section in self.sections:
            if isinstance(section, UsNat):
                return section
        return None

    @property
    def uspv1(self) -> UspV1 | None:
        for section in self.sections:
            if isinstance(section, UspV1):
                return section
        return None


def decode_gpp(value: str) -> GppString:
    """The GPP string ``value``, decoded; ``GppError`` says why when it is malformed."""
    if not isinstance(value, str):
        raise GppError("a GPP string must be text")
    if len(value) > MAX_LENGTH:
        raise GppError(f"longer than {MAX_LENGTH} characters")
    header, *texts = value.split("~")
    ids = _section_ids(_bits(header, "header"), len(texts))
    sections: list[Section] = []
    for section_id, text in zip(ids, texts, strict=True):
        if not text.strip():
            raise GppError(f"section {section_id} is blank")
        if section_id == USNAT_ID:
            sections.append(_usnat(text))
        elif section_id == USPV1_ID:
            sections.append(_uspv1(text))
        else:
            sections.append(RawSection(section_id, text))
    return GppString(ids, tuple(sections))


def _bits(text: str, what: str) -> str:
    """The bits of base64url ``text`` as a string of 0 and 1 (6 per character)."""
    try:
        return "".join([_BITS[char] for char in text])
    except KeyError:
        raise GppError(f"the {what} holds a character outside base64url") from None


def _section_ids(bits: str, sections: int) -> tuple[int, ...]:
    """The header's section ids; exactly ``sections`` of them, or ``GppError``."""
    if len(bits) < 24:
        raise GppError("the header is cut short")
    if int(bits[:6], 2) != _HEADER_TYPE:
        raise GppError("not a GPP string: the header's type is not 3")
    if int(bits[6:12], 2) != _HEADER_VERSION:
        raise GppError("unknown GPP header version")
    entries = int(bits[12:24], 2)
    position, last, ids = 24, 0, list[int]()
    for _ in range(entries):
        if position >= len(bits):
            raise GppError("the header's section ids are cut short")
        is_range = bits[position] == "1"
        start, position = _fibonacci(bits, position + 1)
        start += last
        last = start
        if is_range:
            end, position = _fibonacci(bits, position)
            last = start + end
        if len(ids) + last - start + 1 > sections:
            raise GppError("the header lists more sections than the string holds")
        ids.extend(range(start, last + 1))
    if len(ids) != sections:
        raise GppError("the header lists fewer sections than the string holds")
    return tuple(ids)


def _fibonacci(bits: str, position: int) -> tuple[int, int]:
    """The Fibonacci-coded integer at ``position`` (ended by ``11``), and where it ends."""
    end = bits.find("11", position, position + _MAX_FIBONACCI_BITS + 1)
    if end < 0:
        raise GppError("a bad Fibonacci code in the header")
    value = 0
    for index in range(end + 1 - position):
        if bits[position + index] == "1":
            value += _FIBONACCI[index]
    return value, end + 2


def _usnat(text: str) -> UsNat:
    core, *rest = text.split(".")
    if len(rest) > 1:
        raise GppError("usnat: more than one subsection")
    if not core:
        raise GppError("usnat: the core segment is cut short")
    version = _VALUES.get(core[0])
    if version is None:
        raise GppError("usnat: a character outside base64url")
    layout = _USNAT_LAYOUTS.get(version)
    if layout is None:
        raise GppError(f"usnat: unknown version {version}")
    sensitive, children, lengths = layout
    if len(core) not in lengths:
        raise GppError(f"usnat: a version {version} core segment of {len(core)} characters")
    try:
        pairs = [value for char in core[1:] for value in _PAIRS[char]]
    except KeyError:
        raise GppError("usnat: a character outside base64url") from None
    if 3 in pairs[: 13 + sensitive + children]:
        raise GppError("usnat: a 2-bit field holds 3, which no value means")
    lists, tail = 9 + sensitive, 9 + sensitive + children
    return UsNat(
        version=version,
        sharing_notice=pairs[0],
        sale_opt_out_notice=pairs[1],
        sharing_opt_out_notice=pairs[2],
        targeted_advertising_opt_out_notice=pairs[3],
        sensitive_data_processing_opt_out_notice=pairs[4],
        sensitive_data_limit_use_notice=pairs[5],
        sale_opt_out=pairs[6],
        sharing_opt_out=pairs[7],
        targeted_advertising_opt_out=pairs[8],
        sensitive_data_processing=tuple(pairs[9:lists]),
        known_child_sensitive_data_consents=tuple(pairs[lists:tail]),
        personal_data_consents=pairs[tail],
        mspa_covered_transaction=pairs[tail + 1],
        mspa_opt_out_option_mode=pairs[tail + 2],
        mspa_service_provider_mode=pairs[tail + 3],
        gpc=_gpc(rest[0]) if rest else None,
    )


def _gpc(text: str) -> bool:
    if not text:
        raise GppError("usnat: the GPC subsection is cut short")
    if not _VALUES.keys() >= set(text):
        raise GppError("usnat: a character outside base64url")
    first = _VALUES[text[0]]
    if first >> 4 != 1:
        raise GppError("usnat: a subsection of unknown type")
    return bool(first & 8)


def _uspv1(text: str) -> UspV1:
    if len(text) != 4 or text[0] != "1" or not _USP_CHOICES.issuperset(text[1:]):
        raise GppError("uspv1: not a US Privacy string such as 1YNN")
    return UspV1(1, text[1], text[2], text[3])


@dataclass(frozen=True, slots=True)
class OptOuts:
    """The visitor's opt-outs a GPP string records: ``True`` means opted out (or, for
    sensitive data, consent refused); ``gpc`` is ``None`` when the string does not say."""

    sale: bool
    sharing: bool
    targeted_advertising: bool
    sensitive_data: bool
    gpc: bool | None


def gpp_opt_outs(gpp: GppString) -> OptOuts:
    """The opt-outs of ``usnat`` and ``uspv1`` together: one opted out, the visitor is."""
    usnat, uspv1 = gpp.usnat, gpp.uspv1
    sale = uspv1 is not None and uspv1.opt_out_sale == "Y"
    if usnat is None:
        return OptOuts(sale, False, False, False, None)
    return OptOuts(
        sale=sale or usnat.sale_opt_out == 1,
        sharing=usnat.sharing_opt_out == 1,
        targeted_advertising=usnat.targeted_advertising_opt_out == 1,
        sensitive_data=1 in usnat.sensitive_data_processing
        or 1 in usnat.known_child_sensitive_data_consents,
        gpc=usnat.gpc,
    )


@dataclass(frozen=True, slots=True)
class GppMapping:
    """Which opt-outs refuse which optional category (``rules/gpp.toml``)."""

    refused_by: Mapping[Category, frozenset[str]]
    # The granted categories for each set of opt-outs, by their bits in SIGNALS order: 32
    # answers worked out once, so a request only looks one up
    granted: tuple[frozenset[Category], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        answers = []
        for bits in range(1 << len(SIGNALS)):
            active = {signal for index, signal in enumerate(SIGNALS) if bits >> index & 1}
            refused = {c for c, signals in self.refused_by.items() if active & signals}
            answers.append(frozenset({Category.ESSENTIAL, *OPTIONAL_CATEGORIES}) - refused)
        object.__setattr__(self, "granted", tuple(answers))

    @classmethod
    def load(cls, path: Path | None = None) -> GppMapping:
        """The mapping in ``path`` (default: the built-in one); ``ValueError`` names the
        problem."""
        path = path or rules_dir() / "gpp.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise ValueError(f"{path}: cannot read the GPP mapping ({error})") from None
        table = data.get("refused-by")
        if not isinstance(table, dict) or set(data) != {"refused-by"}:
            raise ValueError(f"{path}: expected one table, [refused-by]")
        return cls(check_refused_by(table, str(path)))

    def with_site(self, refused_by: Mapping[Category, frozenset[str]]) -> GppMapping:
        """This mapping with the site's lists over it: a category listed takes its list."""
        return GppMapping({**self.refused_by, **refused_by}) if refused_by else self


def check_refused_by(
    table: Mapping[str, object], origin: str = "GPP mapping"
) -> dict[Category, frozenset[str]]:
    """``table`` checked: optional categories, each a list of opt-outs of ``SIGNALS`` (an
    empty list: refused by none)."""
    refused_by: dict[Category, frozenset[str]] = {}
    for name, signals in table.items():
        if name not in OPTIONAL_CATEGORIES:
            raise ValueError(f"{origin}: {name!r} is not an optional category")
        wrong = f"{origin}: {name} must list some of {', '.join(SIGNALS)}"
        if not isinstance(signals, list | tuple | set | frozenset):  # frozenset: model_dump()
            raise ValueError(wrong)
        if not set(signals) <= set(SIGNALS):
            raise ValueError(wrong)
        refused_by[Category(name)] = frozenset(signals)
    return refused_by


def gpp_categories(gpp: GppString, mapping: GppMapping) -> frozenset[Category] | None:
    """The categories granted under opt-out by the choices in ``gpp`` (essential always),
    or ``None`` when it holds neither ``usnat`` nor ``uspv1``."""
    if gpp.usnat is None and gpp.uspv1 is None:
        return None
    o = gpp_opt_outs(gpp)
    flags = (o.sale, o.sharing, o.targeted_advertising, o.sensitive_data, o.gpc is True)
    return mapping.granted[sum(1 << index for index, flag in enumerate(flags) if flag)]
