"""Streaming HTML rewriting: insert the banner's tags, hand tracker tags to a hook.

Pure bytes in, bytes out, no ASGI: ``HtmlRewriter.feed(chunk)`` returns what may be sent
now, ``finish()`` the rest. The scanner follows the WHATWG tokenizer closely enough to know
where a tag, a comment, a doctype, CDATA or the text of ``<script>``, ``<style>``,
``<textarea>``, ``<title>`` (and the other raw-text elements) begins and ends, so nothing is
ever inserted inside one of them or inside an attribute value. It works on bytes: every
encoding a browser accepts for HTML without a BOM of its own is ASCII-compatible where markup
is concerned (UTF-16 and ISO-2022 are refused by the caller).

Where the banner goes: right after ``<head ...>`` (after a ``<meta charset>`` that follows it,
so the charset stays within the first 1024 bytes), else before ``</head>``, else after
``<body ...>``, else at the very end; the no-script part right after ``<body ...>``. Bytes flow
on as soon as the insertion point has passed; until then at most ``lookahead`` bytes are
scanned, after which the rewriter gives up and passes everything through untouched.

With a tracker hook, the whole document is scanned: start tags of ``<script src>``, ``<img>``,
``<iframe>``, ``<object>``, ``<embed>`` and ``<link>`` (a preload fetches too) and the text of
inline scripts (up to ``INLINE_SCRIPT_LIMIT``) go to the hook, which may return an inert
replacement start tag. Each tag carries the document's ``<base href>`` seen before it, which
its relative URLs resolve against.
Memory stays bounded by the longest held token (itself bounded), whatever the document's
size.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.entities import html5
from typing import Protocol

from gateway.consent.state import Category

LOOKAHEAD = 64 * 1024
CHARSET_WINDOW = 1024  # browsers look for <meta charset> in the first 1024 bytes
INLINE_SCRIPT_LIMIT = 64 * 1024
HELD_TAG_LIMIT = 64 * 1024  # a longer tag is streamed through, never handed to the hook


@dataclass(frozen=True, slots=True)
class Tag:
    """One start tag as the page has it."""

    name: str  # lower-case: "script", "img", "iframe"
    attrs: list[tuple[str, str | None]]  # names lower-case, values entity-decoded
    raw: bytes  # the start tag as it arrived, "<script ...>"
    base: str | None = None  # the document's <base href> before it, if any


class TrackerHook(Protocol):
    """Decides, per tag, whether a tracker must be made inert (``gateway.html.trackers``)."""

    def start_tag(self, tag: Tag, granted: frozenset[Category]) -> bytes | None:
        """A replacement start tag, or None to keep ``tag``."""

    def inline_script(self, tag: Tag, text: bytes, granted: frozenset[Category]) -> bytes | None:
        """A replacement start tag for an inline script that is a tracker snippet, or None."""


# Outcomes of the banner insertion.
PENDING = "pending"
INSERTED = "inserted"
GAVE_UP = "lookahead"
NOT_WANTED = "not wanted"
NO_PLACE = "no_place"  # the document ends inside a comment, a tag, raw text...
NOT_ASCII = "charset"  # a UTF-16 document (its BOM wins over any header): bytes are not markup
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

# Tokenizer states.
_DATA, _RAWTEXT, _SCRIPT, _COMMENT, _BOGUS, _CDATA, _PLAINTEXT, _LONG_TAG = range(8)
# Script data sub-states (WHATWG "script data", "escaped", "double escaped").
_PLAIN, _ESCAPED, _DOUBLE = range(3)
# Sub-states of a tag streamed through without holding it.
_T_NAME, _T_BEFORE, _T_ATTR, _T_AFTER, _T_VALUE, _T_DQ, _T_SQ, _T_UNQUOTED = range(8)

_WS = b"\t\n\f\r "
_RAW_TEXT = frozenset({"style", "textarea", "title", "xmp", "iframe", "noembed", "noframes"})
# link: a preload fetches too
_HOOKED = frozenset({"script", "img", "iframe", "link", "object", "embed"})
# A <link> fetches only as a preload (rel preload, modulepreload, prefetch, perhaps written
# with character references): a stylesheet or an icon is not worth handing over.
_MAY_PRELOAD = re.compile(rb"(?i)pre|&")
_FOREIGN = frozenset({"svg", "math"})

_TAG_TAIL = (
    rb"(?:[\t\n\f\r /]++"
    rb"|[^\t\n\f\r />][^\t\n\f\r />=]*+"
    rb"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+\"|'[^']*+'|(?![\"'])[^\t\n\f\r >]*+)"
    rb"|(?![\t\n\f\r ]*+=))"
    rb")*+>"
)
# A complete tag. Possessive quantifiers and the forced value branch make the parse the
# tokenizer's own (one way only, so no backtracking on a tag cut off by a chunk boundary):
# an attribute name may start with "=", and "name =" always takes a value.
_TAG = re.compile(rb"<(/?)([A-Za-z][^\t\n\f\r />]*+)" + _TAG_TAIL)
_ATTR = re.compile(
    rb"([^\t\n\f\r />][^\t\n\f\r />=]*+)"
    rb"(?:[\t\n\f\r ]*+(=)[\t\n\f\r ]*+(\"[^\"]*+\"|'[^']*+'|(?![\"'])[^\t\n\f\r >]*+))?"
)  # (name, "=" when a value follows, the value as written)
# A run of text and tags that change nothing the scanner tracks, consumed in one call: any
# start tag but those below, any end tag but of the elements whose nesting is followed.
_INTERESTING_START = (
    b"script", b"style", b"textarea", b"title", b"xmp", b"iframe", b"noembed", b"noframes",
    b"noscript", b"plaintext", b"svg", b"math", b"img", b"image", b"head", b"body",
)  # fmt: skip


def _boring(interesting: tuple[bytes, ...]) -> re.Pattern[bytes]:
    # Grouped by first letter: at every "<" the engine tries each branch of an alternation
    # in turn, so one branch per letter is much cheaper than one per name.
    by_letter: dict[bytes, list[bytes]] = {}
    for name in interesting:
        by_letter.setdefault(name[:1], []).append(name[1:])
    names = b"|".join(first + b"(?:" + b"|".join(rest) + b")" for first, rest in by_letter.items())
    return re.compile(
        rb"(?:[^<]++"
        rb"|<(?![!/?]|(?i:"
        + names
        + rb")[\t\n\f\r />])[A-Za-z][^\t\n\f\r />]*+"
        + _TAG_TAIL
        + rb"|</(?!(?i:noscript|svg|math|head)[\t\n\f\r />])[A-Za-z][^\t\n\f\r />]*+"
        + _TAG_TAIL
        + rb"|<(?=[^A-Za-z!/?])"  # a "<" that is text; at the end of a chunk it is not known yet
        rb")*+"
    )


_BORING = _boring(_INTERESTING_START)
_BORING_HOOKED = _boring((*_INTERESTING_START, b"link", b"object", b"embed", b"base"))
_TAG_NAME = re.compile(rb"<(/?)([A-Za-z][^\t\n\f\r />]*+)")
_COMMENT_END = re.compile(rb"--!?>")
_SCRIPT_PLAIN = re.compile(rb"<!--|</(?i:script)[\t\n\f\r />]")
_SCRIPT_ESCAPED = re.compile(rb"-->|<(/?)(?i:script)[\t\n\f\r />]")
_SCRIPT_DOUBLE = re.compile(rb"-->|</(?i:script)[\t\n\f\r />]")
_SCRIPT_PATTERNS = (_SCRIPT_PLAIN, _SCRIPT_ESCAPED, _SCRIPT_DOUBLE)
_SCRIPT_OVERLAP = len(b"</script ") - 1
_RAW_END = {name: re.compile(rb"</(?i:" + name.encode() + rb")[\t\n\f\r />]") for name in _RAW_TEXT}
_SKIP_WS_SLASH = re.compile(rb"[\t\n\f\r /]*+")
_SKIP_WS = re.compile(rb"[\t\n\f\r ]*+")
_NAME_CHARS = re.compile(rb"[^\t\n\f\r />=]*+")
_TAG_NAME_CHARS = re.compile(rb"[^\t\n\f\r />]*+")
_UNQUOTED_CHARS = re.compile(rb"[^\t\n\f\r >]*+")


class HtmlRewriter:
    """Rewrites one HTML document fed in chunks.

    ``head`` goes at the head insertion point and ``body`` after ``<body ...>``; either may be
    empty. ``trackers`` (with the visitor's ``granted`` categories) turns on the full scan.
    After ``feed`` returns, ``settled`` says whether the banner's place is decided, and
    ``outcome`` how: ``INSERTED``, ``GAVE_UP`` (look-ahead exhausted), ``NOT_WANTED``.
    """

    def __init__(
        self,
        head: bytes,
        body: bytes = b"",
        *,
        trackers: TrackerHook | None = None,
        granted: frozenset[Category] = frozenset(),
        lookahead: int = LOOKAHEAD,
        hold_limit: int = HELD_TAG_LIMIT,
        on_neutralised: Callable[[bytes], None] | None = None,
    ) -> None:
        self._head = head
        self._body = body
        self._trackers = trackers
        self._granted = granted
        # With a hook, the fast path stops at every tag that may fetch, and at <base>.
        self._boring = _BORING if trackers is None else _BORING_HOOKED
        self._base_href: str | None = None  # the first <base href>, once seen
        self._lookahead = lookahead
        self._hold_limit = hold_limit
        self._on_neutralised = on_neutralised
        self.outcome = PENDING if head else NOT_WANTED
        self._want_body = bool(body)
        self.neutralised = 0  # tags the hook replaced
        self._buf = b""
        self._pos = 0  # scan position in _buf
        self._done = 0  # bytes of _buf already handed out
        self._base = 0  # offset of _buf[0] in the document
        self._out: list[bytes] = []
        self._state = _DATA
        self._script = _PLAIN
        self._raw_end: re.Pattern[bytes] | None = None
        self._in_noscript = False
        self._foreign = 0  # open <svg>/<math> elements: CDATA sections are real there
        self._dangling = False  # the document ended inside a construct
        self._seen = 0  # bytes received
        # After <head>: the insertion point, held while a <meta charset> may still follow.
        self._tentative: int | None = None
        # An inline script held for the hook: its tag, where its start tag and text begin.
        self._inline: tuple[Tag, int, int] | None = None
        # A tag streamed through: its name, whether it is an end tag, the sub-state.
        self._long: tuple[str, bool] = ("", False)
        self._long_state = _T_NAME
        self._scanning = self._wants_scan()
        self._bom_checked = False

    @property
    def settled(self) -> bool:
        """True once the banner's insertion is decided (made, given up or not wanted)."""
        return self.outcome != PENDING

    @property
    def scanning(self) -> bool:
        """False once every remaining byte passes through unlooked-at."""
        return self._scanning

    def feed(self, data: bytes) -> bytes:
        """Bytes of the rewritten document that may be sent now."""
        self._seen += len(data)
        if not self._scanning:
            return data
        if self._done < len(self._buf):
            self._buf = self._buf[self._done :] + data
        else:
            self._buf = data
        self._base += self._done
        self._pos -= self._done
        self._done = 0
        if not self._bom_checked:
            if len(self._buf) < 2:
                return self._take(final=False)  # wait for a second byte
            self._bom_checked = True
            if self._buf[:2] in _UTF16_BOMS:
                self._refuse_utf16()
                return self._take(final=False)
        self._scan(final=False)
        return self._take(final=False)

    def finish(self) -> bytes:
        """The rest of the document, with the banner at the end if it found no better place."""
        if self._scanning:
            self._scan(final=True)
        if self.outcome == PENDING:
            if self._tentative is not None:
                self._commit_head()
            elif self._dangling or self._state != _DATA or self._in_noscript or self._foreign:
                self.outcome = NO_PLACE  # at the end, it would land inside that construct
            elif self._seen:
                self._insert(len(self._buf), self._head)
                self.outcome = INSERTED
            else:
                self.outcome = NOT_WANTED  # an empty document stays empty
        self._inline = None
        self._scanning = False
        return self._take(final=True)

    def _refuse_utf16(self) -> None:
        """A UTF-16 document: its bytes are not ASCII markup, so nothing is touched."""
        self.outcome = NOT_ASCII
        self._want_body = False
        self._scanning = False

    # Output

    def _take(self, final: bool) -> bytes:
        hold = len(self._buf) if final else self._pos
        if self._tentative is not None:
            hold = min(hold, self._tentative - self._base)
        if self._inline is not None:
            hold = min(hold, self._inline[1] - self._base)
        if hold > self._done:
            self._out.append(self._buf[self._done : hold])
            self._done = hold
        if not self._scanning and not final:
            # Nothing more to look at: what is held goes out and later chunks pass through.
            self._out.append(self._buf[self._done :])
            self._done = len(self._buf)
        out = self._out
        self._out = []
        if len(out) == 1:
            return out[0]
        return b"".join(out)

    def _emit_to(self, at: int) -> None:
        if at > self._done:
            self._out.append(self._buf[self._done : at])
            self._done = at

    def _insert(self, at: int, data: bytes) -> None:
        self._emit_to(at)
        if data:
            self._out.append(data)

    @property
    def _seeking(self) -> bool:
        return self.outcome == PENDING or self._want_body

    def _wants_scan(self) -> bool:
        return self.outcome == PENDING or self._want_body or self._trackers is not None

    # The scanner

    def _scan(self, final: bool) -> None:
        buf = self._buf
        n = len(buf)
        pos = self._pos
        limit = self._lookahead - self._base if self._seeking else n + 1
        while pos < n and self._scanning:
            if pos >= limit:
                if self._seeking:
                    self._give_up()
                    if not self._scanning:
                        break
                limit = n + 1
            state = self._state
            if state == _DATA:
                if self._tentative is None:
                    boring = self._boring.match(buf, pos)
                    assert boring is not None  # the pattern accepts the empty string
                    pos = boring.end()
                    if pos >= n:
                        break
                    if pos >= limit:
                        continue  # past the look-ahead: decided at the top of the loop
                i = buf.find(b"<", pos)
                if i < 0:
                    if self._tentative is not None and buf[pos:].strip(_WS):
                        self._commit_head()
                    pos = n
                    break
                if i > pos and self._tentative is not None and buf[pos:i].strip(_WS):
                    self._commit_head()
                after = self._markup(i, final)
                if after < 0:
                    pos = i
                    break
                pos = after
            elif state == _SCRIPT:
                pos = self._script_text(pos, final)
                if pos < 0:
                    pos = self._pos
                    break
            elif state == _RAWTEXT:
                assert self._raw_end is not None
                match = self._raw_end.search(buf, pos)
                if match is None:
                    pos = max(pos, n - 16)  # room for "</noframes" and its delimiter
                    if final:
                        pos = n
                    break
                after = self._end_tag_at(match.start(), final)
                if after < 0:
                    pos = match.start()
                    break
                pos = after
            elif state == _COMMENT:
                match = _COMMENT_END.search(buf, pos)
                if match is None:
                    pos = n if final else max(pos, n - 3)
                    break
                pos = match.end()
                self._state = _DATA
            elif state == _BOGUS:
                i = buf.find(b">", pos)
                if i < 0:
                    pos = n
                    break
                pos = i + 1
                self._state = _DATA
            elif state == _CDATA:
                i = buf.find(b"]]>", pos)
                if i < 0:
                    pos = n if final else max(pos, n - 2)
                    break
                pos = i + 3
                self._state = _DATA
            elif state == _LONG_TAG:
                pos = self._long_tag(pos)
            else:  # _PLAINTEXT: never ends
                pos = n
        self._pos = pos

    def _give_up(self) -> None:
        """The look-ahead is spent: no banner, and nothing more to look for."""
        if self.outcome == PENDING:
            self.outcome = GAVE_UP
        self._tentative = None
        self._want_body = False
        self._scanning = self._trackers is not None

    def _markup(self, i: int, final: bool) -> int:
        """Handles the construct starting with ``<`` at ``i``; its end, or -1 to wait."""
        buf = self._buf
        rest = len(buf) - i
        if rest < 2:
            return -1 if not final else i + 1
        c = buf[i + 1]
        if c == 0x21:  # "!"
            if buf.startswith(b"<!--", i):
                if rest < 6 and not final:
                    return -1  # "<!-->" and "<!--->" are whole comments
                if buf.startswith(b">", i + 4):
                    return i + 5
                if buf.startswith(b"->", i + 4):
                    return i + 6
                self._state = _COMMENT
                return i + 4
            head = buf[i : i + 9]
            if (
                rest < 9
                and not final
                and (b"<!--".startswith(head) or b"<![CDATA[".startswith(head))
            ):
                return -1
            self._not_meta()
            if head == b"<![CDATA[" and self._foreign:
                self._state = _CDATA  # in HTML content it is a bogus comment, ending at ">"
                return i + 9
            self._state = _BOGUS  # doctype, bogus comment: both end at the first ">"
            return i + 2
        if c == 0x2F:  # "/"
            if rest < 3:
                if not final:
                    return -1
                self._dangling = True  # "</" at the end would turn what follows into a comment
                return len(buf)
            d = buf[i + 2]
            if d == 0x3E:  # "</>" is dropped by the tokenizer
                return i + 3
            if _is_alpha(d):
                return self._tag_at(i, final)
            self._not_meta()
            self._state = _BOGUS
            return i + 2
        if c == 0x3F:  # "<?"
            self._not_meta()
            self._state = _BOGUS
            return i + 2
        if _is_alpha(c):
            return self._tag_at(i, final)
        if self._tentative is not None:
            self._commit_head()  # "<" as text
        return i + 1

    def _not_meta(self) -> None:
        """A token other than whitespace, a comment or a <meta> follows <head>."""
        if self._tentative is not None:
            self._commit_head()

    def _tag_at(self, i: int, final: bool) -> int:
        buf = self._buf
        match = _TAG.match(buf, i)
        if match is None:
            if final:
                self._dangling = True
                return len(buf)  # a tag cut off by the end: the browser drops it
            if len(buf) - i <= self._hold_limit:
                return -1
            if self._trackers is None:
                self._give_up()
                return i
            return self._start_long_tag(i)
        end = match.end()
        is_end = bool(match.group(1))
        name = match.group(2).lower().decode("latin-1")
        if name == "image":
            name = "img"  # as the tree builder renames it
        if is_end:
            self._end_tag(name, i)
            return end
        return self._start_tag(name, i, end, match)

    def _start_tag(self, name: str, i: int, end: int, match: re.Match[bytes]) -> int:
        if self._tentative is not None:
            if name == "meta" and self._base + end <= CHARSET_WINDOW:
                if _declares_charset(_attributes(match)):
                    self._tentative = self._base + end
                    self._commit_head()
                return end  # other <meta> tags: keep looking
            self._commit_head()
        if not self._in_noscript:
            if name == "head" and self.outcome == PENDING:
                self._tentative = self._base + end
                if self._base + end >= CHARSET_WINDOW:
                    self._commit_head()
            elif name == "body":
                self._at_body(end)
            elif name == "base" and self._trackers is not None:
                self._at_base(match)
        if name == "noscript":
            self._in_noscript = True
        elif name in _FOREIGN and not match.group(0).endswith(b"/>"):
            self._foreign += 1
        if (
            self._trackers is not None
            and name in _HOOKED
            and (name != "link" or _MAY_PRELOAD.search(self._buf, i, end))
        ):
            return self._hook(name, i, end, match)
        self._enter_content(name)
        return end

    def _at_base(self, match: re.Match[bytes]) -> None:
        """The document's base URL is the first ``<base>`` with an ``href`` (an SVG
        ``<base>`` is no HTML base); tags after it resolve their URLs against it."""
        if self._base_href is None and not self._foreign:
            self._base_href = dict(_attributes(match)).get("href")

    def _enter_content(self, name: str) -> None:
        if name == "script":
            self._state = _SCRIPT
            self._script = _PLAIN
        elif name in _RAW_TEXT:
            self._state = _RAWTEXT
            self._raw_end = _RAW_END[name]
        elif name == "plaintext":
            self._state = _PLAINTEXT

    def _end_tag(self, name: str, i: int) -> None:
        if self._tentative is not None:
            self._commit_head()
        if name == "noscript":
            self._in_noscript = False
        elif name in _FOREIGN and self._foreign:
            self._foreign -= 1
        elif name == "head" and self.outcome == PENDING and not self._in_noscript:
            self._insert(i, self._head)
            self.outcome = INSERTED
            self._scanning = self._wants_scan()

    def _at_body(self, end: int) -> None:
        at = end
        if self.outcome == PENDING:
            self._insert(at, self._head)
            self.outcome = INSERTED
        if self._want_body:
            self._insert(at, self._body)
            self._want_body = False
        self._scanning = self._wants_scan()

    def _commit_head(self) -> None:
        """Insert the head part at the place held since <head>."""
        assert self._tentative is not None
        at = self._tentative - self._base
        self._tentative = None
        self._insert(at, self._head)
        self.outcome = INSERTED
        self._scanning = self._wants_scan()

    def _end_tag_at(self, i: int, final: bool) -> int:
        """The end tag of a raw-text or script element at ``i``: its end, or -1 to wait."""
        match = _TAG.match(self._buf, i)
        if match is None:
            if final:
                self._dangling = True
                return len(self._buf)
            if len(self._buf) - i <= self._hold_limit:
                return -1
            self._state = _DATA
            return self._start_long_tag(i)
        self._state = _DATA
        return match.end()

    # Script text

    def _script_text(self, pos: int, final: bool) -> int:
        """Scans script text from ``pos``: the end of its end tag, or -1 to wait."""
        buf = self._buf
        n = len(buf)
        while True:
            sub = self._script
            pattern = _SCRIPT_PATTERNS[sub]
            match = pattern.search(buf, pos)
            if match is None:
                pos = n if final else max(pos, n - _SCRIPT_OVERLAP)
                self._check_inline_limit(pos)
                self._pos = pos
                return -1 if not final else n
            token = match.group(0)
            if sub == _PLAIN:
                if token == b"<!--":
                    self._script = _ESCAPED
                    pos = match.start() + 2  # "<!-->" closes at once
                    continue
                return self._script_end(match.start(), final)
            if token == b"-->":
                self._script = _PLAIN
                pos = match.end()
                continue
            if sub == _ESCAPED:
                if match.group(1):
                    return self._script_end(match.start(), final)
                self._script = _DOUBLE
            else:
                self._script = _ESCAPED
            pos = match.end()

    def _script_end(self, i: int, final: bool) -> int:
        self._check_inline_limit(i)
        inline = self._inline
        after = self._end_tag_at(i, final)
        if after < 0:
            self._state = _SCRIPT
            self._pos = i
            return -1
        if inline is not None:
            self._inline = None
            tag, start, text_start = inline
            assert self._trackers is not None
            text = self._buf[text_start - self._base : i]
            replacement = self._trackers.inline_script(tag, text, self._granted)
            if replacement is not None:
                self._replace(start - self._base, text_start - self._base, replacement)
        return after

    def _check_inline_limit(self, pos: int) -> None:
        """An inline script longer than the limit is no tracker snippet: let it flow."""
        if self._inline is not None and self._base + pos - self._inline[2] > INLINE_SCRIPT_LIMIT:
            self._inline = None

    # Tracker tags

    def _hook(self, name: str, i: int, end: int, match: re.Match[bytes]) -> int:
        assert self._trackers is not None
        tag = Tag(name, _attributes(match), self._buf[i:end], self._base_href or None)
        if name == "script" and not any(key == "src" for key, _ in tag.attrs):
            self._enter_content(name)
            self._inline = (tag, self._base + i, self._base + end)
            return end
        replacement = self._trackers.start_tag(tag, self._granted)
        if replacement is not None:
            self._replace(i, end, replacement)
        self._enter_content(name)
        return end

    def _replace(self, start: int, end: int, replacement: bytes) -> None:
        self._emit_to(start)
        self._out.append(replacement)
        self._done = end
        self.neutralised += 1
        if self._on_neutralised is not None:
            self._on_neutralised(replacement)

    # Tags too long to hold

    def _start_long_tag(self, i: int) -> int:
        match = _TAG_NAME.match(self._buf, i)
        assert match is not None
        self._long = (match.group(2)[:16].lower().decode("latin-1"), bool(match.group(1)))
        self._long_state = _T_NAME
        self._state = _LONG_TAG
        return match.end()

    def _long_tag(self, pos: int) -> int:
        """Steps through a tag without holding it, one attribute piece at a time."""
        buf = self._buf
        n = len(buf)
        sub = self._long_state
        while pos < n:
            if sub == _T_NAME:
                pos = _match_end(_TAG_NAME_CHARS, buf, pos)
                sub = _T_BEFORE
            elif sub == _T_BEFORE:
                pos = _match_end(_SKIP_WS_SLASH, buf, pos)
                if pos < n:
                    if buf[pos] == 0x3E:
                        return self._long_tag_done(pos + 1)
                    pos += 1  # the first character of a name, "=" included
                    sub = _T_ATTR
            elif sub == _T_ATTR:
                pos = _match_end(_NAME_CHARS, buf, pos)
                sub = _T_AFTER
            elif sub == _T_AFTER:
                pos = _match_end(_SKIP_WS, buf, pos)
                if pos < n:
                    c = buf[pos]
                    if c == 0x3D:
                        pos += 1
                        sub = _T_VALUE
                    elif c == 0x3E:
                        return self._long_tag_done(pos + 1)
                    else:
                        sub = _T_BEFORE
            elif sub == _T_VALUE:
                pos = _match_end(_SKIP_WS, buf, pos)
                if pos < n:
                    c = buf[pos]
                    if c == 0x22:
                        pos += 1
                        sub = _T_DQ
                    elif c == 0x27:
                        pos += 1
                        sub = _T_SQ
                    elif c == 0x3E:
                        return self._long_tag_done(pos + 1)
                    else:
                        sub = _T_UNQUOTED
            elif sub in (_T_DQ, _T_SQ):
                i = buf.find(b'"' if sub == _T_DQ else b"'", pos)
                if i < 0:
                    pos = n
                else:
                    pos = i + 1
                    sub = _T_BEFORE
            else:  # _T_UNQUOTED
                pos = _match_end(_UNQUOTED_CHARS, buf, pos)
                if pos < n:
                    if buf[pos] == 0x3E:
                        return self._long_tag_done(pos + 1)
                    sub = _T_BEFORE
        self._long_state = sub
        return pos

    def _long_tag_done(self, end: int) -> int:
        name, is_end = self._long
        self._state = _DATA
        if is_end:
            if name == "noscript":
                self._in_noscript = False
        else:
            if name == "noscript":
                self._in_noscript = True
            self._enter_content(name)
        return end


def _match_end(pattern: re.Pattern[bytes], buf: bytes, pos: int) -> int:
    match = pattern.match(buf, pos)
    assert match is not None  # every pattern here accepts the empty string
    return match.end()


def _is_alpha(c: int) -> bool:
    return 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A


def _attributes(match: re.Match[bytes]) -> list[tuple[str, str | None]]:
    """The attributes of a matched tag, as the DOM would have them (first of a name wins)."""
    raw = match.string
    assert isinstance(raw, bytes)
    seen: set[str] = set()
    attrs: list[tuple[str, str | None]] = []
    for name, equals, value in _ATTR.findall(raw, match.end(2), match.end() - 1):
        key = name.lower().decode("utf-8", "replace")
        if key in seen:
            continue
        seen.add(key)
        if not equals:
            attrs.append((key, None))
            continue
        if value.startswith((b'"', b"'")):
            value = value[1:-1]
        text = value.decode("utf-8", "replace")
        attrs.append((key, unescape_attribute(text) if "&" in text else text))
    return attrs


def _declares_charset(attrs: list[tuple[str, str | None]]) -> bool:
    values = dict(attrs)
    if values.get("charset"):
        return True
    equiv = (values.get("http-equiv") or "").strip().lower()
    return equiv == "content-type" and "charset" in (values.get("content") or "").lower()


def tag_of(raw: bytes) -> Tag | None:
    """The ``Tag`` of one complete start tag (tests, and the replacement tags' categories)."""
    match = _TAG.match(raw)
    if match is None or match.group(1):
        return None
    return Tag(match.group(2).lower().decode("latin-1"), _attributes(match), raw[: match.end()])


_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")


def unescape_attribute(value: str) -> str:
    """Decode character references the way the tokenizer does in an attribute value.

    Unlike ``html.unescape`` (text content), a legacy reference without ";" followed by "=" or
    an alphanumeric stays as it is: ``?a=1&region=eu`` keeps ``&region``, it is not "®ion".
    """
    if "&" not in value:
        return value
    return _CHARREF.sub(_replace_reference, value)


def _replace_reference(match: re.Match[str]) -> str:
    ref = match.group(1)
    if ref[0] == "#" or ref in html5:
        return html.unescape(match.group(0))
    for length in range(min(len(ref) - 1, 32), 1, -1):
        if ref[:length] in html5:  # the longest legacy name without ";"
            following = ref[length]
            if following == "=" or following.isalnum():
                return match.group(0)
            return html5[ref[:length]] + ref[length:]
    return match.group(0)


_VOID = frozenset({"link", "meta", "img", "br", "hr", "input", "base", "source", "wbr"})


def xml_syntax(fragment: bytes) -> bytes:
    """``fragment`` (the banner's tags) in the syntax an XHTML page's XML parser accepts:
    void elements closed with "/>", every attribute value quoted, boolean attributes given
    their own name as value."""
    out: list[bytes] = []
    pos = 0
    for match in _TAG.finditer(fragment):
        out.append(fragment[pos : match.start()])
        pos = match.end()
        if match.group(1):
            out.append(match.group(0))
            continue
        name = match.group(2)
        close = b"/>" if name.lower().decode("latin-1") in _VOID else b">"
        out.append(b"<" + name + _xml_attributes(match) + close)
    out.append(fragment[pos:])
    return b"".join(out)


def _xml_attributes(match: re.Match[bytes]) -> bytes:
    parts: list[bytes] = []
    for attr in _ATTR.finditer(match.string, match.end(2), match.end() - 1):
        name, value = attr.group(1), attr.group(3)
        if value is None:
            value = b'"' + name + b'"'
        elif value[:1] not in (b'"', b"'"):
            value = b'"' + value.replace(b'"', b"&quot;") + b'"'
        parts.append(b" " + name + b"=" + value)
    return b"".join(parts)
