"""Known third-party trackers (``rules/trackers.toml``) and their neutralisation in HTML.

The HTML scanner (``gateway/html/rewriter.py``) calls ``TrackerRules.start_tag`` for start tags and
``TrackerRules.inline_script`` for the text of inline scripts. A tag is rewritten only when
the category its tracker needs is not granted; the rewrite is the inert form that the banner
activates without a reload once the category is granted (see ``gateway/html/gating.py``):

- ``<script src>``: ``type="text/plain" data-consent="<category>"``, the original ``type``
  kept in ``data-type``; browsers neither fetch nor run a script of an unknown type;
- an inline ``<script>`` whose text holds a known snippet: the same, the text kept;
- ``<img>``: ``data-consent``, ``src`` and ``srcset`` moved to ``data-src`` and
  ``data-srcset``; ``<iframe>`` and ``<embed>``: ``src`` moved to ``data-src``;
  ``<object>``: ``data`` moved to ``data-data``;
- ``<link rel=preload|modulepreload|prefetch>``: ``href`` (and ``imagesrcset``) moved to
  ``data-href``, because a preload fetches the tracker too. The banner does not restore it:
  once granted, the gated script fetches itself, and a preload restored then would only
  fetch it a second time.

A tag is judged by every URL it fetches (each ``srcset`` candidate too), resolved against
the page's ``<base href>``; it waits for every category they need. The Google tag (gtag.js)
and Tag Manager are *loaders*: they need the category of each tag id they name in their
address (``?id=G-...``) or snippet (``rules/trackers.toml``, ``ids``), or of the container
as the operator mapped it (``gtm_containers``), and their own category when they name none.

Everything that does not depend on the page is done once in ``TrackerRules.__init__``:
addresses go into a dict of hosts probed once per label suffix of the URL's host, snippets
into one compiled alternation of bytes patterns whose matching group names the vendor.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin

from gateway.consent.state import OPTIONAL_CATEGORIES, Category
from gateway.html.gating import rewrite_start_tag
from gateway.html.rewriter import Tag
from gateway.memo import Memo
from gateway.resources import rules_dir

INLINE_SCAN_LIMIT = 32 * 1024  # bytes of an inline script searched for snippets
URL_MEMO_SIZE = 4_096
URL_MEMO_BYTES = 2 * 1024 * 1024
MAX_URL_KEY = 2048  # longer URLs (data: URLs of inline images) are looked at every time
_LIST_KEYS = ("scripts", "pixels", "embeds", "snippets", "ids")
_VENDOR_KEYS = frozenset({"name", "docs", "category", "why", "loader", *_LIST_KEYS})
_ID_PREFIX = re.compile(r"[A-Z]{1,8}-")
_HOST_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
_PATH = re.compile(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+")
_SNIPPET_TEXT = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")
_MIN_SNIPPET = 6
_QUOTES = "'\""
_PUNCTUATION = "(),[]{}:;=+"
_URL_STRIP = " \t\n\f\r"
_LITERAL_RUN = re.compile(r"[A-Za-z0-9_$.-]+")
_NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$")
_PRELOADS = frozenset({"preload", "modulepreload", "prefetch"})
# The attributes of each tag kind that hold a URL the browser fetches (srcset: several).
_FETCHED = {
    "script": ("src",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "link": ("href", "imagesrcset"),
}
_SRCSET_GAP = re.compile(r"[\t\n\f\r ,]*")
_SRCSET_URL = re.compile(r"[^\t\n\f\r ]+")
_SRCSET_DESCRIPTORS = re.compile(r"(?:[^,(]|\([^)]*\)?)*")  # up to a comma outside ( )
# Each gated kind but scripts: its fetched attributes, moved out of the browser's reach.
_MOVED = {name: {key: "data-" + key for key in keys} for name, keys in _FETCHED.items()}
_NOTHING: frozenset[Category] = frozenset()
_ESSENTIAL = frozenset((Category.ESSENTIAL,))
# Script types that are data, never run (HTML "prepare the script element"). Anything else is
# treated as runnable, so unusual loaders such as text/partytown are gated too.
_DATA_SCRIPT_TYPES = frozenset({"text/plain", "importmap", "speculationrules"})
_DATA_SCRIPT_WORDS = ("json", "template", "html", "xml", "handlebars", "mustache", "markdown")
# Strictest last: an inline script with several vendors names every category it needs.
_STRICTNESS = {category: rank for rank, category in enumerate(OPTIONAL_CATEGORIES)}


@dataclass(frozen=True, slots=True)
class Tracker:
    """One vendor of ``rules/trackers.toml``: who it is and what consent it needs."""

    vendor: str
    category: Category
    docs: str
    why: str
    loader: bool = False  # loads the tags it names by id (gtag.js, Tag Manager)


@dataclass(frozen=True, slots=True)
class _Address:
    path: str  # "" for the whole host, else "/a/b" without a trailing slash
    tracker: Tracker


def load_tracker_file(path: Path, containers: Mapping[str, Category] | None = None) -> TrackerRules:
    """The rules of one ``[[vendor]]`` file, with the operator's ``containers`` (tag ids
    mapped to a category, ``TrackerRules``); bad data raises ``ValueError`` naming the file,
    the vendor and the entry."""
    origin = path.name if path.parent == rules_dir() else str(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such tracker rules file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid TOML ({error})") from None
    extra = sorted(set(document) - {"vendor"})
    vendors = document.get("vendor", [])
    if extra or not isinstance(vendors, list) or not vendors:
        raise ValueError(f"{origin}: a tracker rules file holds [[vendor]] tables and nothing else")
    addresses: dict[tuple[str, str], Tracker] = {}
    snippets: dict[str, Tracker] = {}
    ids: dict[str, Tracker] = {}
    names: set[str] = set()
    for number, vendor in enumerate(vendors, start=1):
        tracker, entries = _vendor(vendor, origin, number)
        where = f"{origin}: vendor {tracker.vendor!r}"
        if tracker.vendor in names:
            raise ValueError(f"{where} is listed twice")
        names.add(tracker.vendor)
        for key in ("scripts", "pixels", "embeds"):
            for entry in entries.get(key, ()):
                host, path_part = _address(entry, f"{where}: {key} entry {entry!r}")
                other = addresses.setdefault((host, path_part), tracker)
                if other is not tracker:
                    raise ValueError(
                        f"{where}: {key} entry {entry!r} is already listed for {other.vendor!r}"
                    )
        for entry in entries.get("snippets", ()):
            _check_snippet(entry, f"{where}: snippets entry {entry!r}")
            other = snippets.setdefault(entry, tracker)
            if other is not tracker:
                raise ValueError(
                    f"{where}: snippets entry {entry!r} is already listed for {other.vendor!r}"
                )
        for entry in entries.get("ids", ()):
            if not _ID_PREFIX.fullmatch(entry):
                raise ValueError(f"{where}: ids entry {entry!r} must be a prefix like G-")
            other = ids.setdefault(entry, tracker)
            if other is not tracker:
                raise ValueError(
                    f"{where}: ids entry {entry!r} is already listed for {other.vendor!r}"
                )
    return TrackerRules(
        [(host, path_part, tracker) for (host, path_part), tracker in addresses.items()],
        list(snippets.items()),
        list(ids.items()),
        containers,
    )


def _vendor(data: object, origin: str, number: int) -> tuple[Tracker, dict[str, list[str]]]:
    if not isinstance(data, dict):
        raise ValueError(f"{origin}: vendor #{number} is not a table")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{origin}: vendor #{number}: `name` must be a non-empty string")
    where = f"{origin}: vendor {name!r}"
    unknown = sorted(set(data) - _VENDOR_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; expected {sorted(_VENDOR_KEYS)}")
    docs = data.get("docs")
    if not isinstance(docs, str) or not re.fullmatch(r"https://[^\s/]+\.[^\s/]+(/\S*)?", docs):
        raise ValueError(f"{where}: `docs` must be the https:// address of the vendor's docs")
    category = data.get("category")
    if category not in {member.value for member in Category}:
        valid = ", ".join(member.value for member in Category)
        raise ValueError(f"{where}: `category` {category!r} is not one of {valid}")
    why = data.get("why")
    if not isinstance(why, str) or not why.strip():
        raise ValueError(f"{where}: `why` must say in a sentence why it needs {category}")
    entries: dict[str, list[str]] = {}
    for key in _LIST_KEYS:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"{where}: `{key}` must be a list of strings")
        entries[key] = value
    if not any(entries.values()):
        raise ValueError(f"{where}: lists no scripts, pixels, embeds, snippets or ids")
    loader = data.get("loader", False)
    if not isinstance(loader, bool):
        raise ValueError(f"{where}: `loader` must be true or false")
    return Tracker(name, Category(category), docs, why, loader), entries


def _address(entry: str, where: str) -> tuple[str, str]:
    """``host[/path]`` split and checked: lower-case host, no scheme, query or trailing /."""
    host, slash, path = entry.partition("/")
    labels = host.split(".")
    if len(labels) < 2 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{where}: the host must be a lower-case name like cdn.example.com")
    if slash and not _PATH.fullmatch("/" + path):
        raise ValueError(f"{where}: the path must be like /a/b, without query or trailing /")
    return host, slash + path


def _check_snippet(entry: str, where: str) -> None:
    if len(entry) < _MIN_SNIPPET or not _SNIPPET_TEXT.fullmatch(entry):
        raise ValueError(
            f"{where}: a snippet is printable ASCII text of at least {_MIN_SNIPPET} characters"
        )


def snippet_pattern(snippet: str) -> bytes:
    """The bytes regular expression a snippet stands for.

    Either quote matches either quote, whitespace may surround punctuation, and a ``/`` may
    be escaped as ``\\/`` (scripts written out from JSON). The check that a snippet starting
    with a name does not match inside a longer name (``ga(`` is not ``omega(``) is made on
    the match, so that the pattern keeps its literal prefix for a fast search.
    """
    pieces: list[str] = []
    for character in snippet:
        if character in _QUOTES:
            pieces.append("['\"]")
        elif character in _PUNCTUATION:
            pieces.extend((r"\s*", re.escape(character), r"\s*"))
        elif character == " ":
            pieces.append(r"\s*")
        elif character == "/":
            pieces.append(r"\\?/")
        else:
            pieces.append(re.escape(character))
    while pieces and pieces[0] == r"\s*":
        pieces.pop(0)
    while pieces and pieces[-1] == r"\s*":
        pieces.pop()
    collapsed = [p for i, p in enumerate(pieces) if p != r"\s*" or pieces[i - 1] != r"\s*"]
    return "".join(collapsed).encode("ascii")


def snippet_anchor(snippet: str) -> bytes:
    """The longest run of the snippet that must appear literally in any text it matches:
    a cheap ``bytes.find`` for it rules most scripts out before any regular expression."""
    runs: list[str] = _LITERAL_RUN.findall(snippet)
    return max(reversed(runs), key=len).encode("ascii")


@dataclass(frozen=True, slots=True)
class _Snippet:
    pattern: re.Pattern[bytes]
    after_name: bool  # the snippet starts with a name: the match must not continue one
    tracker: Tracker

    def found_in(self, text: bytes) -> bool:
        for match in self.pattern.finditer(text):
            start = match.start()
            if not self.after_name or not start or text[start - 1] not in _NAME_BYTES:
                return True
        return False


def host_and_path(url: str) -> tuple[str, str] | None:
    """The lower-cased host and path an absolute or scheme-relative http(s) URL points at,
    read the way a browser reads it (backslashes as slashes, tabs and newlines ignored,
    user info, port and a trailing dot dropped); ``None`` for relative and other URLs."""
    url = _browser_form(url).lower()
    if url.startswith("//"):
        rest = url[2:]
    else:
        scheme, colon, rest = url.partition(":")
        if not colon or scheme not in ("https", "http"):
            return None
        rest = rest.lstrip("/")
    end = len(rest)
    for delimiter in "/?#":
        found = rest.find(delimiter, 0, end)
        if found >= 0:
            end = found
    authority, tail = rest[:end], rest[end:]
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        return None  # an IPv6 literal is nobody's tracker host
    host = host.partition(":")[0]
    if "%" in host:
        host = unquote(host)
    host = host.rstrip(".")
    if not host:
        return None
    path = tail.partition("?")[0].partition("#")[0]
    return host, path or "/"


def _browser_form(url: str) -> str:
    """``url`` as a browser reads an attribute's URL: surrounding whitespace and every tab
    and newline dropped, backslashes taken as slashes (as in http and https URLs)."""
    url = url.strip(_URL_STRIP)
    if "\t" in url or "\n" in url or "\r" in url:
        url = url.replace("\t", "").replace("\n", "").replace("\r", "")
    return url.replace("\\", "/")


def resolve(url: str, base: str | None) -> str:
    """``url`` resolved against the page's ``<base href>`` (``None``: there is none): under
    ``<base href="https://www.googletagmanager.com/">``, ``gtm.js`` is Google's. A base the
    browser cannot parse leaves relative URLs the site's own, as in the browser."""
    if not base:
        return url
    try:
        return urljoin(_browser_form(base), _browser_form(url))
    except ValueError:  # "https://[::1" and the like
        return url


def srcset_urls(srcset: str) -> list[str]:
    """The candidate URLs of a ``srcset`` (HTML's "parse a srcset attribute"): each is a run
    of non-space characters, its trailing commas dropped, followed by descriptors up to a
    comma outside parentheses."""
    urls: list[str] = []
    position, end = 0, len(srcset)
    while True:
        position = _match_end(_SRCSET_GAP, srcset, position)
        if position >= end:
            return urls
        url = _SRCSET_URL.match(srcset, position)
        assert url is not None  # a character that is neither a space nor a comma
        position = url.end()
        candidate = url.group().rstrip(",")
        urls.append(candidate)
        if len(candidate) == len(url.group()):  # no trailing comma: descriptors follow
            position = _match_end(_SRCSET_DESCRIPTORS, srcset, position)


def _match_end(pattern: re.Pattern[str], text: str, position: int) -> int:
    match = pattern.match(text, position)
    assert match is not None  # the pattern accepts the empty string
    return match.end()


def _script_runs(attrs: Mapping[str, str | None]) -> bool:
    """Whether a browser would run (or a loader would execute) a script of these attributes."""
    kind = attrs.get("type")
    if not kind:
        return True
    essence = kind.strip(_URL_STRIP).lower().partition(";")[0].strip()
    if essence in _DATA_SCRIPT_TYPES:
        return False
    return not any(word in essence for word in _DATA_SCRIPT_WORDS)


def _first_values(attrs: Iterable[tuple[str, str | None]]) -> dict[str, str | None]:
    """Each attribute's first value: a browser ignores repeated attributes."""
    values: dict[str, str | None] = {}
    for name, value in attrs:
        values.setdefault(name, value)
    return values


def _consent_value(categories: Iterable[Category]) -> str:
    ordered = sorted(set(categories), key=lambda category: _STRICTNESS.get(category, -1))
    return " ".join(category.value for category in ordered)


class TrackerRules:
    """The compiled tracker database: which tags to neutralise, and how.

    ``ids`` are tag id prefixes (``"G-"``) with their vendor; ``containers`` the operator's
    category for whole tag ids (``{"GTM-ABC123": analytics}``), which wins over the prefix.
    """

    def __init__(
        self,
        addresses: Sequence[tuple[str, str, Tracker]],
        snippets: Sequence[tuple[str, Tracker]],
        ids: Sequence[tuple[str, Tracker]] = (),
        containers: Mapping[str, Category] | None = None,
    ) -> None:
        hosts: dict[str, list[_Address]] = {}
        for host, path, tracker in addresses:
            hosts.setdefault(host, []).append(_Address(path, tracker))
        for entries in hosts.values():
            entries.sort(key=lambda address: len(address.path), reverse=True)
        self._hosts = {host: tuple(entries) for host, entries in hosts.items()}
        by_anchor: dict[bytes, list[_Snippet]] = {}
        for text, tracker in snippets:
            compiled = re.compile(snippet_pattern(text))
            entry = _Snippet(compiled, bool(re.match(r"[\w$]", text)), tracker)
            by_anchor.setdefault(snippet_anchor(text), []).append(entry)
        self._anchors = tuple((anchor, tuple(found)) for anchor, found in by_anchor.items())
        self._ids = {prefix.rstrip("-").upper(): tracker for prefix, tracker in ids}
        containers = containers or {}
        self._containers = {tag_id.upper(): category for tag_id, category in containers.items()}
        self._id_pattern = _id_pattern(self._ids) if self._ids else None
        self.memo: Memo[object, frozenset[Category]] = Memo(
            "tracker_urls", URL_MEMO_SIZE, URL_MEMO_BYTES, MAX_URL_KEY
        )
        vendors = {tracker.vendor: tracker for *_, tracker in addresses}
        vendors.update((tracker.vendor, tracker) for _, tracker in snippets)
        vendors.update((tracker.vendor, tracker) for _, tracker in ids)
        self.trackers = tuple(vendors.values())

    def adopt(self, other: TrackerRules) -> None:
        """Judge tags by ``other``'s rules from now on (rules read again); this memo,
        cleared, stays the one the metrics count."""
        self._hosts, self._anchors, self._ids = other._hosts, other._anchors, other._ids
        self._containers, self._id_pattern = other._containers, other._id_pattern
        self.trackers = other.trackers
        self.memo.clear()

    @classmethod
    def load(
        cls, path: Path | None = None, containers: Mapping[str, Category] | None = None
    ) -> TrackerRules:
        """The rules of ``path``, by default the built-in ``rules/trackers.toml``, with the
        operator's ``containers`` (the ``gtm_containers`` setting)."""
        return load_tracker_file(path or rules_dir() / "trackers.toml", containers)

    def tracker_for_url(self, url: str) -> Tracker | None:
        """The tracker ``url`` loads, by host suffix and path prefix, ignoring the query."""
        parsed = host_and_path(url)
        if parsed is None:
            return None
        host, path = parsed
        hosts = self._hosts
        while host:
            for address in hosts.get(host, ()):
                prefix = address.path
                if not prefix or path == prefix or path.startswith(prefix + "/"):
                    return address.tracker
            host = host.partition(".")[2]
        return None

    def categories_for_url(self, url: str, base: str | None = None) -> frozenset[Category]:
        """The categories a tag that fetches ``url`` needs (none: no tracker), ``url``
        resolved against the page's ``<base href>``; remembered, as sites repeat URLs."""
        key: object = url if base is None else (url, base)
        found = self.memo.table.get(key)
        if found is None:
            size = len(url) + len(base or "")
            return self.memo.put(key, self._categories(resolve(url, base)), size)
        self.memo.hits += 1
        return found

    def _categories(self, url: str) -> frozenset[Category]:
        tracker = self.tracker_for_url(url)
        if tracker is None:
            return _NOTHING
        if tracker.loader:  # gtag/js?id=G-..., gtm.js?id=GTM-...
            query = url.partition("#")[0].partition("?")[2]
            return self._named(tracker, query.encode("utf-8", "replace"))
        return frozenset((tracker.category,))

    def _named(self, loader: Tracker, text: bytes) -> frozenset[Category]:
        """What ``loader`` needs to load the tags ``text`` names: each id's category, the
        loader's own when it names no id it knows."""
        found: set[Category] = set()
        if self._id_pattern is not None:
            for match in self._id_pattern.finditer(text):
                tag_id = match.group().decode("ascii").upper()
                category = self._containers.get(tag_id)
                if category is None:
                    category = self._ids[match.group(1).decode("ascii").upper()].category
                found.add(category)
        return frozenset(found) if found else frozenset((loader.category,))

    def trackers_in_script(self, text: bytes) -> tuple[Tracker, ...]:
        """The trackers whose snippets appear in the first ``INLINE_SCAN_LIMIT`` bytes."""
        text = text[:INLINE_SCAN_LIMIT]
        found: dict[str, Tracker] = {}
        for anchor, snippets in self._anchors:
            if anchor not in text:
                continue
            for snippet in snippets:
                vendor = snippet.tracker.vendor
                if vendor not in found and snippet.found_in(text):
                    found[vendor] = snippet.tracker
        return tuple(found.values())

    def start_tag(self, tag: Tag, granted: frozenset[Category]) -> bytes | None:
        """The inert, gated replacement for ``tag``, or ``None`` to keep it as it is."""
        name = tag.name
        fetched = _FETCHED.get(name)
        if fetched is None:
            return None
        attrs = _first_values(tag.attrs)
        if "data-consent" in attrs:
            return None
        if name == "script" and not _script_runs(attrs):
            return None
        if name == "link" and not _PRELOADS & set((attrs.get("rel") or "").lower().split()):
            return None
        needed = _NOTHING
        for attribute in fetched:
            value = attrs.get(attribute)
            if not value:
                continue
            for url in srcset_urls(value) if attribute.endswith("srcset") else (value,):
                found = self.categories_for_url(url, tag.base)
                if found:
                    needed = needed | found
        if not needed:
            return None
        needed = needed - _ESSENTIAL
        if not needed or needed <= granted:
            return None
        return _gated(tag, needed)

    def inline_script(self, tag: Tag, text: bytes, granted: frozenset[Category]) -> bytes | None:
        """The replacement start tag for an inline ``<script>`` whose text holds a known
        tracker snippet (the text itself stays), or ``None``."""
        if tag.name != "script":
            return None
        attrs = _first_values(tag.attrs)
        if "data-consent" in attrs or attrs.get("src") or not _script_runs(attrs):
            return None
        text = text[:INLINE_SCAN_LIMIT]
        needed: set[Category] = set()
        for tracker in self.trackers_in_script(text):
            if tracker.loader:
                needed |= self._named(tracker, text)
            else:
                needed.add(tracker.category)
        needed -= _ESSENTIAL
        if not needed or needed <= granted:
            return None
        return _gated(tag, needed)


def _id_pattern(prefixes: Iterable[str]) -> re.Pattern[bytes]:
    """Tag ids of the known prefixes (``G-X1Y2Z3``, ``UA-1-1``), in any letter case, not
    inside a longer word; group 1 is the prefix without its dash."""
    names = b"|".join(re.escape(p.encode("ascii")) for p in sorted(prefixes, key=len, reverse=True))
    return re.compile(
        rb"(?<![A-Za-z0-9_-])(" + names + rb")-[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*", re.IGNORECASE
    )


def _gated(tag: Tag, categories: Iterable[Category]) -> bytes | None:
    consent = _consent_value(categories)
    if tag.name == "script":
        return rewrite_start_tag(
            tag.raw,
            add=(("type", "text/plain"), ("data-consent", consent)),
            rename={"type": "data-type"},
            remove=("data-type", "data-consent"),
        )
    moved = _MOVED[tag.name]
    return rewrite_start_tag(
        tag.raw,
        add=(("data-consent", consent),),
        rename=moved,
        remove=("data-consent", *moved.values()),
    )
