"""Cookie and Set-Cookie parsing and building, after RFC 6265bis.

Headers arrive from ASGI as bytes and are decoded as latin-1 (lossless), so every function
here takes text that may hold any code point 0-255, and none of them raises.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_NAME_VALUE = 4096
MAX_ATTRIBUTE_VALUE = 1024
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_WSP = " \t"


def parse_cookie_header(header: str) -> list[tuple[str, str]]:
    """Pairs of a request ``Cookie`` header in order, duplicates kept."""
    pairs = []
    for piece in header.split(";"):
        piece = piece.strip(_WSP)
        if not piece:
            continue
        name, sep, value = piece.partition("=")
        if sep:
            pairs.append((name.strip(_WSP), value.strip(_WSP)))
        else:
            pairs.append(("", name))
    return pairs


def split_cookie_header(header: str) -> list[tuple[str, str]]:
    """``(name, "name=value")`` for each pair, so a header is split once and filtered later."""
    pieces = []
    for piece in header.split(";"):
        piece = piece.strip(_WSP)
        if piece:
            name, sep, _ = piece.partition("=")
            pieces.append((name.strip(_WSP) if sep else "", piece))
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

    The very same header object comes back when nothing was refused; ``None`` when nothing
    is left.
    """
    return filter_cookie_pieces(header, split_cookie_header(header), keep)


@dataclass(frozen=True, slots=True)
class SetCookie:
    """The cookie a user agent stores from one ``Set-Cookie`` header."""

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
    """Name, value and the attribute text, or None when a user agent ignores the header."""
    if _CONTROL.search(header):
        return None
    pair, _, attributes = header.partition(";")
    name, sep, value = pair.partition("=")
    if not sep:
        name, value = "", name
    name, value = name.strip(_WSP), value.strip(_WSP)
    if not name and not value:
        return None
    if len(name) + len(value) > MAX_NAME_VALUE:
        return None
    return name, value, attributes


def set_cookie_name(header: str) -> str | None:
    """Just the cookie name (what classification needs), or None if the header is ignored."""
    parsed = _name_value(header)
    return parsed[0] if parsed is not None else None


def parse_set_cookie(header: str) -> SetCookie | None:
    """The cookie a user agent would store from this value, or None when it would ignore it."""
    parsed = _name_value(header)
    if parsed is None:
        return None
    name, value, rest = parsed
    fields: dict[str, object] = {}
    for attribute in rest.split(";") if rest else ():
        key, _, raw = attribute.partition("=")
        key, raw = key.strip(_WSP).lower(), raw.strip(_WSP)
        if len(raw) > MAX_ATTRIBUTE_VALUE:
            continue
        if key == "expires":
            date = parse_cookie_date(raw)
            if date is not None:
                fields["expires"] = date
        elif key == "max-age":
            if re.fullmatch(r"-?[0-9]+", raw):
                fields["max_age"] = max(int(raw), 0) if not raw.startswith("-") else 0
        elif key == "domain":
            fields["domain"] = raw.lstrip(".").lower() or None
        elif key == "path":
            fields["path"] = raw if raw.startswith("/") else None
        elif key == "secure":
            fields["secure"] = True
        elif key == "httponly":
            fields["http_only"] = True
        elif key == "samesite":
            fields["same_site"] = {"strict": "Strict", "lax": "Lax", "none": "None"}.get(
                raw.lower()
            )
        elif key == "partitioned":
            fields["partitioned"] = True
    return SetCookie(name, value, **fields)  # type: ignore[arg-type]


_DELIMITER = re.compile(r"[\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def parse_cookie_date(text: str) -> datetime | None:
    """The RFC 6265 section 5.1.1 cookie-date algorithm; None for a date it rejects."""
    time_found = day = month = year = None
    for token in _DELIMITER.split(text):
        if not token:
            continue
        if time_found is None:
            match = re.match(r"(\d{1,2}):(\d{1,2}):(\d{1,2})(?:[^\d]|$)", token)
            if match:
                time_found = tuple(int(g) for g in match.groups())
                continue
        if day is None:
            match = re.match(r"(\d{1,2})(?:[^\d]|$)", token)
            if match:
                day = int(match.group(1))
                continue
        if month is None and token[:3].lower() in _MONTHS:
            month = _MONTHS.index(token[:3].lower()) + 1
            continue
        if year is None:
            match = re.match(r"(\d{2,4})(?:[^\d]|$)", token)
            if match:
                year = int(match.group(1))
                continue
    if time_found is None or day is None or month is None or year is None:
        return None
    if 70 <= year <= 99:
        year += 1900
    elif 0 <= year <= 69:
        year += 2000
    hour, minute, second = time_found
    if not (1 <= day <= 31) or year < 1601 or hour > 23 or minute > 59 or second > 59:
        return None
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
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
    expires: str | None = None,
) -> str:
    """A ``Set-Cookie`` value."""
    parts = [f"{name}={value}"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if expires is not None:
        parts.append(f"Expires={expires}")
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


_EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"
MAX_DOMAIN_VARIANTS = 4


def default_path(request_path: str) -> str:
    """RFC 6265bis default-path: the request path up to, not including, its last '/'."""
    if not request_path.startswith("/") or request_path.count("/") == 1:
        return "/"
    return request_path[: request_path.rfind("/")]


def _domains(host: str | None) -> list[str]:
    if not host:
        return []
    hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    hostname = hostname.strip("[]").lower().rstrip(".")
    try:
        ipaddress.ip_address(hostname)
        return []
    except ValueError:
        pass
    labels = hostname.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)][:MAX_DOMAIN_VARIANTS]


def expiry_headers(name: str, host: str | None, request_path: str, *, secure: bool) -> list[str]:
    """``Set-Cookie`` values deleting ``name`` in the path and domain variants sites use."""
    lowered = name.lower()
    if lowered.startswith("__host-"):
        return [build_set_cookie(name, "", max_age=0, expires=_EPOCH, secure=True, same_site=None)]
    secure = secure or lowered.startswith("__secure-")
    paths = dict.fromkeys(["/", default_path(request_path)])
    headers = []
    for path in paths:
        for domain in [None, *_domains(host)]:
            headers.append(
                build_set_cookie(
                    name,
                    "",
                    max_age=0,
                    expires=_EPOCH,
                    path=path,
                    domain=domain,
                    secure=secure,
                    same_site=None,
                )
            )
    return headers
