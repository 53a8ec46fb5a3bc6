"""Cookie and Set-Cookie parsing and building, after RFC 6265bis.

Headers arrive from ASGI as bytes and are decoded as latin-1 (lossless), so every function
here takes text that may hold any code point 0-255, and none of them raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

_WSP = " \t"
_MAX_NAME_VALUE = 4096  # octets; latin-1 text holds one code point per octet
_MAX_ATTRIBUTE_VALUE = 1024
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # CTLs but HTAB: the header is ignored

# Cookie prefixes a user agent enforces (RFC 6265bis 4.1.3, plus the HttpOnly pair browsers
# ship), matched case-insensitively. All need Secure; "__host-http-" starts with "__host-".
_PREFIXES = ("__secure-", "__host-", "__http-")
_NEEDS_HTTP_ONLY = ("__http-", "__host-http-")
_HOST_ONLY = "__host-"
_MAX_AGE = re.compile(r"-?[0-9]+")
_SAME_SITE = {"strict": "Strict", "lax": "Lax", "none": "None"}
_MIGHT_SAY_NONE = re.compile("none", re.IGNORECASE)


def parse_cookie_header(header: str) -> list[tuple[str, str]]:
    """Pairs of a request ``Cookie`` header in order, duplicates kept.

    Browsers send one name twice when cookies of different paths or domains share it, and a
    nameless cookie as its bare value, so a piece without '=' is ``("", piece)``.
    """
    pairs: list[tuple[str, str]] = []
    for piece in header.split(";"):
        name, sep, value = piece.partition("=")
        if sep:
            pairs.append((name.strip(_WSP), value.strip(_WSP)))
        elif bare := name.strip(_WSP):
            pairs.append(("", bare))
    return pairs


def split_cookie_header(header: str) -> list[tuple[str, str]]:
    """``(name, "name=value")`` for each pair, so a header is split once and filtered later."""
    pieces: list[tuple[str, str]] = []
    for piece in header.split(";"):
        name, sep, _ = piece.partition("=")
        if sep:
            pieces.append((name.strip(_WSP), piece.strip(_WSP)))
        elif bare := piece.strip(_WSP):
            pieces.append(("", bare))
    return pieces


def filter_cookie_pieces(
    header: str, pieces: list[tuple[str, str]], keep: Callable[[str], bool]
) -> tuple[str | None, list[str]]:
    """``filter_cookie_header`` for a header already split by ``split_cookie_header``."""
    removed: dict[str, None] = {}
    kept: list[str] = []
    for name, piece in pieces:
        if keep(name):
            kept.append(piece)
        else:
            removed[name] = None
    if not removed:
        return header, []
    return ("; ".join(kept) if kept else None), list(removed)


def filter_cookie_header(header: str, keep: Callable[[str], bool]) -> tuple[str | None, list[str]]:
    """The header without the pairs ``keep`` refuses, and the refused names (each once).

    The very same header object comes back when nothing was refused, so the caller can skip
    rebuilding the request; ``None`` when nothing is left.
    """
    return filter_cookie_pieces(header, split_cookie_header(header), keep)


@dataclass(frozen=True, slots=True)
class SetCookie:
    """The cookie a user agent stores from one ``Set-Cookie`` header.

    ``max_age`` is the number sent, 0 when it was negative (both mean "expired"); ``domain``
    and ``path`` are None when the user agent falls back to the request's host and path.
    """

    name: str
    value: str
    expires: datetime | None = None
    max_age: int | None = None
    domain: str | None = None
    path: str | None = None
    secure: bool = False
    http_only: bool = False
    same_site: str | None = None
    partitioned: bool = False


def _name_value(header: str) -> tuple[str, str, str] | None:
    """Name, value and the attribute text, or None when every user agent ignores the header."""
    if _CONTROL.search(header):
        return None
    pair, _, attributes = header.partition(";")
    name, sep, value = pair.partition("=")
    if sep:
        name, value = name.strip(_WSP), value.strip(_WSP)
    else:
        name, value = "", name.strip(_WSP)
    if not name and (not value or value[:12].lower().startswith(_PREFIXES)):
        return None  # nothing to store, or a nameless cookie posing as a prefixed one
    if len(name) + len(value) > _MAX_NAME_VALUE:
        return None
    return name, value, attributes


def set_cookie_name(header: str) -> str | None:
    """The name the site will read the cookie under (what classification needs), or None if
    the header is ignored.

    That is the stored name, except for a nameless cookie: the browser sends it back as its
    bare value (RFC 6265bis 5.8.3), so ``=_ga=GA1.1.1`` comes back as ``_ga=GA1.1.1`` and the
    site reads ``_ga``. Only the rarer headers whose attributes can get them ignored (a
    prefixed name, a non-ASCII Domain, SameSite=None) pay for a full parse, which keeps the
    two in agreement.
    """
    parsed = _name_value(header)
    if parsed is None:
        return None
    name, value, attributes = parsed
    if name.startswith("__") or not attributes.isascii() or _MIGHT_SAY_NONE.search(attributes):
        cookie = _parse_set_cookie(header, with_expiry=False)
        if cookie is None:
            return None
        name, value = cookie.name, cookie.value
    return name or _sent_name(value)


def _sent_name(piece: str) -> str:
    """The name a server reads from one ``name=value`` piece of a ``Cookie`` header: a piece
    without '=' is a nameless cookie's bare value (as ``parse_cookie_header`` reads it)."""
    name, sep, _ = piece.partition("=")
    return name.strip(_WSP) if sep else ""


def parse_set_cookie(header: str) -> SetCookie | None:
    """The cookie a user agent would store from this value, or None when it would ignore it.

    RFC 6265bis 5.6 parsing and the request-independent steps of the 5.7 storage model; the
    last attribute of a kind wins, and an attribute value over 1024 octets is skipped.
    """
    return _parse_set_cookie(header, with_expiry=True)


def _parse_set_cookie(header: str, *, with_expiry: bool) -> SetCookie | None:
    """``parse_set_cookie``, optionally without Expires and Max-Age.

    Those two never get a header ignored and dates are slow to parse, so ``set_cookie_name``
    leaves them out.
    """
    parsed = _name_value(header)
    if parsed is None:
        return None
    name, value, attributes = parsed
    expires: datetime | None = None
    max_age: int | None = None
    domain: str | None = None
    path: str | None = None
    same_site: str | None = None
    secure = http_only = partitioned = False
    for cookie_av in attributes.split(";"):
        key, _, raw = cookie_av.partition("=")
        key, raw = key.strip(_WSP).lower(), raw.strip(_WSP)
        if len(raw) > _MAX_ATTRIBUTE_VALUE:
            continue
        if key == "expires":
            date = _parse_cookie_date(raw) if with_expiry else None
            if date is not None:  # an unparsable date leaves any earlier one
                expires = date
        elif key == "max-age":
            if with_expiry and _MAX_AGE.fullmatch(raw):
                max_age = max(int(raw), 0)
        elif key == "domain":
            domain = (raw[1:] if raw.startswith(".") else raw) or None
        elif key == "path":
            path = raw if raw.startswith("/") else None
        elif key == "secure":
            secure = True
        elif key == "httponly":
            http_only = True
        elif key == "samesite":
            same_site = _SAME_SITE.get(raw.lower())
        elif key == "partitioned":
            partitioned = True
    if domain is not None:
        if not domain.isascii():
            return None
        domain = domain.lower()
    if same_site == "None" and not secure:
        return None
    prefix = name[:12].lower()
    if (
        (prefix.startswith(_PREFIXES) and not secure)
        or (prefix.startswith(_NEEDS_HTTP_ONLY) and not http_only)
        or (prefix.startswith(_HOST_ONLY) and (domain is not None or path != "/"))
    ):
        return None
    return SetCookie(
        name, value, expires, max_age, domain, path, secure, http_only, same_site, partitioned
    )


_DATE_DELIMITERS = re.compile(r"[\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+")
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[^0-9]|$)")
_DAY = re.compile(r"([0-9]{1,2})(?:[^0-9]|$)")
_YEAR = re.compile(r"([0-9]{2,4})(?:[^0-9]|$)")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _parse_cookie_date(text: str) -> datetime | None:
    """The RFC 6265bis 5.1.1 cookie-date algorithm; None for a date it rejects."""
    clock: tuple[int, int, int] | None = None
    day = month = year = None
    for token in _DATE_DELIMITERS.split(text):
        if not token:
            continue
        if clock is None and (match := _TIME.match(token)):
            clock = (int(match[1]), int(match[2]), int(match[3]))
        elif day is None and (match := _DAY.match(token)):
            day = int(match[1])
        elif month is None and token[:3].lower() in _MONTHS:
            month = _MONTHS.index(token[:3].lower()) + 1
        elif year is None and (match := _YEAR.match(token)):
            year = int(match[1])
    if clock is None or day is None or month is None or year is None:
        return None
    if 70 <= year <= 99:
        year += 1900
    elif year <= 69:
        year += 2000
    hour, minute, second = clock
    if not 1 <= day <= 31 or year < 1601 or hour > 23 or minute > 59 or second > 59:
        return None
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:  # a day the month does not have
        return None


def build_set_cookie(
    name: str,
    value: str,
    *,
    max_age: int | None = None,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = False,
    http_only: bool = False,
    same_site: str | None = "Lax",
) -> str:
    """A ``Set-Cookie`` value; name and value must already be cookie-octets (no ';', CTLs)."""
    parts = [f"{name}={value}"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if domain:
        parts.append(f"Domain={domain}")
    if path:
        parts.append(f"Path={path}")
    if secure:
        parts.append("Secure")
    if http_only:
        parts.append("HttpOnly")
    if same_site:
        parts.append(f"SameSite={same_site}")
    return "; ".join(parts)


_EXPIRED = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
_MAX_DOMAIN_VARIANTS = 4
# A name a browser can hold and a Set-Cookie line can carry: no CTL but HTAB, no ';' or '=',
# nothing past latin-1 (the line is encoded back to the bytes the browser sent).
_UNSENDABLE_NAME = re.compile(r"[^\x09\x20-\x3a\x3c\x3e-\x7e\x80-\xff]")
_HOSTNAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_IPV4_TAIL = re.compile(r"[0-9]+|0x[0-9a-f]*")
# Characters a browser leaves unescaped in a URL path (WHATWG path percent-encode set), but
# ';', which would end the Path attribute.
_PATH_SAFE = "/!$&'()*+,=:@[]^|"


def expiry_headers(name: str, host: str | None, request_path: str, *, secure: bool) -> list[str]:
    """``Set-Cookie`` values deleting ``name`` in the path and domain variants sites use.

    A browser deletes a cookie only through a line with its exact path and domain, which the
    request does not reveal, so every usual variant is sent. A name no browser can hold
    yields no line at all; a nameless cookie is deleted through a placeholder value, since a
    line with an empty name and value is ignored.
    """
    if _UNSENDABLE_NAME.search(name) or name != name.strip(_WSP):
        return []
    start = f"{name}=; {_EXPIRED}" if name else f"=deleted; {_EXPIRED}"
    prefix = name[:12].lower()
    flags = "; HttpOnly" if prefix.startswith(_NEEDS_HTTP_ONLY) else ""
    if prefix.startswith(_HOST_ONLY):
        return [f"{start}; Path=/; Secure{flags}"]
    if secure or prefix.startswith(_PREFIXES):
        flags = "; Secure" + flags
    paths = dict.fromkeys(["/", quote(_default_path(request_path), _PATH_SAFE, errors="replace")])
    domains = ["", *(f"; Domain={domain}" for domain in _domain_variants(host))]
    return [f"{start}{domain}; Path={path}{flags}" for path in paths for domain in domains]


def _default_path(request_path: str) -> str:
    """RFC 6265bis 5.1.4 default-path: the request path up to, not including, its last '/'."""
    if not request_path.startswith("/") or request_path.count("/") == 1:
        return "/"
    return request_path[: request_path.rfind("/")]


def _domain_variants(host: str | None) -> list[str]:
    """The host and its parent domains down to two labels, at most four of them.

    Past four, the middle ones go: the host and the shortest parents (where sites and
    analytics scripts put shared cookies) matter most. IP addresses and anything that is
    not a plain ASCII host name get none.
    """
    if not host or host.startswith("["):  # IPv6 literal
        return []
    hostname = host.partition(":")[0].rstrip(".")
    if not _HOSTNAME.fullmatch(hostname):
        return []
    labels = hostname.lower().split(".")
    if _IPV4_TAIL.fullmatch(labels[-1]):  # what a browser parses as an IPv4 address
        return []
    domains = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    if len(domains) > _MAX_DOMAIN_VARIANTS:
        domains = [domains[0], *domains[1 - _MAX_DOMAIN_VARIANTS :]]
    return domains
