"""Rewrite one HTML start tag into its inert, consent-gated form, keeping every other byte.

The tag is edited in its raw bytes rather than rebuilt from decoded attribute values: the
page's character encoding, its entity references and its quoting style then survive
untouched, whatever encoding the HTML scanner decoded the values with. Attributes are found
with the start-tag states of the HTML tokenizer (WHATWG HTML 13.2.5.32-42), so this module
and a browser agree on where each attribute begins and ends, even in malformed markup.

A moved value (``src`` to ``data-src``) keeps its raw bytes and its quotes; only an unquoted
value that holds a quote character is re-quoted, with ``"`` written as ``&quot;``, which
decodes to the same value.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

_WHITESPACE = b"\t\n\f\r "
_TAG_NAME_END = _WHITESPACE + b"/>"
_NAME_END = _WHITESPACE + b"/>="
_UNQUOTED_END = _WHITESPACE + b">"
_SAFE_ADDED_VALUE = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-/ ")


@dataclass(frozen=True, slots=True)
class RawAttribute:
    """Where one attribute sits in a raw start tag."""

    name: str  # ASCII-lower-cased, as the tokenizer reports it
    start: int  # first byte of the name
    end: int  # one past the last byte of the value (or of the name when there is none)
    value: bytes | None  # the raw value between its quotes, references not decoded
    quote: bytes  # b'"', b"'" or b"" (unquoted or no value)


@dataclass(frozen=True, slots=True)
class RawStartTag:
    """A start tag split into its name and attributes, with their byte offsets."""

    name: str
    name_end: int
    attributes: tuple[RawAttribute, ...]


def parse_start_tag(raw: bytes) -> RawStartTag | None:
    """The name and attributes of ``raw`` (``<name ...>``), or ``None`` if it is not one tag."""
    if len(raw) < 3 or raw[0:1] != b"<" or not raw[1:2].isalpha() or not raw.endswith(b">"):
        return None
    size = len(raw)
    index = 1
    while index < size and raw[index] not in _TAG_NAME_END:
        index += 1
    name = raw[1:index].decode("latin-1").lower()
    name_end = index
    attributes: list[RawAttribute] = []
    while True:
        # Before attribute name: whitespace and stray solidi separate attributes.
        while index < size and raw[index] in b"\t\n\f\r /":
            index += 1
        if index >= size:
            return None
        if raw[index] == 0x3E:  # ">"
            break
        start = index
        index += 1  # the first character may be "="
        while index < size and raw[index] not in _NAME_END:
            index += 1
        attribute_name = raw[start:index].decode("latin-1").lower()
        end = index
        while index < size and raw[index] in _WHITESPACE:
            index += 1
        if index >= size:
            return None
        if raw[index] != 0x3D:  # no "=": an attribute without a value
            attributes.append(RawAttribute(attribute_name, start, end, None, b""))
            continue
        index += 1
        while index < size and raw[index] in _WHITESPACE:
            index += 1
        if index >= size:
            return None
        quote = raw[index : index + 1]
        if quote in (b'"', b"'"):
            close = raw.find(quote, index + 1)
            if close < 0:
                return None
            value = raw[index + 1 : close]
            index = close + 1
        elif quote == b">":  # "name=>": an empty value
            attributes.append(RawAttribute(attribute_name, start, index, b"", b""))
            break
        else:
            value_start = index
            while index < size and raw[index] not in _UNQUOTED_END:
                index += 1
            value = raw[value_start:index]
            quote = b""
        attributes.append(RawAttribute(attribute_name, start, index, value, quote))
    if index != size - 1:
        return None  # a ">" before the end: the scanner's tag and ours differ
    return RawStartTag(name, name_end, tuple(attributes))


def _quoted(value: bytes, quote: bytes) -> bytes:
    if quote:
        return quote + value + quote
    return b'"' + value.replace(b'"', b"&quot;") + b'"'


def rewrite_start_tag(
    raw: bytes,
    *,
    add: Sequence[tuple[str, str]],
    rename: Mapping[str, str],
    remove: Collection[str] = (),
) -> bytes | None:
    """``raw`` with the ``add`` attributes first, then each ``rename`` source's value under
    its new name, every occurrence of the renamed and ``remove`` attributes dropped.

    Only the first occurrence of a renamed attribute counts, as in a browser. ``None`` when
    ``raw`` is not a single well-formed start tag or an added value needs escaping (the
    caller then leaves the tag as it was).
    """
    tag = parse_start_tag(raw)
    if tag is None:
        return None
    for name, value in add:
        safe = name.isascii() and value.isascii()
        if not safe or not frozenset(value.encode("ascii")) <= _SAFE_ADDED_VALUE:
            return None
    dropped = set(rename) | set(remove)
    moved: dict[str, bytes] = {}
    kept: list[bytes] = []
    position = tag.name_end
    for attribute in tag.attributes:
        if attribute.name not in dropped:
            continue
        if attribute.name in rename and attribute.name not in moved and attribute.value is not None:
            moved[attribute.name] = _quoted(attribute.value, attribute.quote)
        kept.append(raw[position : attribute.start])
        position = attribute.end
    kept.append(raw[position:])
    inserted = [f' {name}="{value}"'.encode("ascii") for name, value in add]
    for source, target in rename.items():
        if source in moved:
            inserted.append(b" " + target.encode("ascii") + b"=" + moved[source])
    return raw[: tag.name_end] + b"".join(inserted) + b"".join(kept)
