"""The IETF http-state parser cases, run against ``parse_set_cookie``.

Each case lists the ``Set-Cookie`` values a user agent received from
``http://home.example.org:8888/cookie-parser?<id>`` and the cookies it then sends to
``/cookie-parser-result?<id>`` (or to ``sent-to``). One-header, one-cookie cases check the
parsed name and value directly. The others go through a small user agent built on the parser:
the RFC 6265bis 5.7 storage steps that depend on the request (domain, path, scheme, expiry,
replacement) and the 5.8.3 retrieval order, so the parser's Domain, Path, Secure, Expires and
Max-Age results are checked too, not only its name and value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from gateway.cookies.parse import SetCookie, parse_set_cookie

CASES_FILE = Path(__file__).resolve().parents[1] / "data" / "http-state-parser.json"
CASES: list[dict[str, Any]] = json.loads(CASES_FILE.read_text())
SET_FROM = "http://home.example.org:8888/cookie-parser?{id}"
RESULT_AT = "/cookie-parser-result?{id}"
# The cases' dates are relative to when they were written (2011): "Expires=... 2019" meant
# a cookie that lives on, so expiry is judged at that time, not today.
WRITTEN = datetime(2011, 4, 1, tzinfo=UTC)

Pair = tuple[str, str]

# http-state predates RFC 6265bis. Where the two disagree the test holds the parser to
# RFC 6265bis: case id -> (why, the cookies RFC 6265bis sends back).
_NAMELESS = (
    "RFC 6265bis 5.6 step 2: a pair without '=', or with nothing before it, is a nameless "
    "cookie sent back as its bare value; http-state drops it"
)
_CONTROL = (
    "RFC 6265bis 5.6 step 1: a Set-Cookie holding a control character (NUL, CR) is ignored "
    "entirely; http-state truncates at the character (the case is DISABLED there)"
)
CONTROL_CHARACTER_CASES = ("DISABLED_CHROMIUM0022", "DISABLED_CHROMIUM0023")
RFC6265BIS_DIFFERS: dict[str, tuple[str, list[Pair]]] = {
    "0004": (_NAMELESS, [("", "foo")]),
    "0021": (_NAMELESS, [("a", "b"), ("", "x"), ("c", "d")]),
    "0023": (_NAMELESS, [("", "foo")]),
    "0024": (_NAMELESS, [("", "foo")]),
    "0025": (_NAMELESS, [("", "foo")]),
    "0026": (_NAMELESS, [("", "foo")]),
    "0027": (_NAMELESS, [("", "bar")]),
    "0028": (_NAMELESS, [("", "foo")]),
    "CHROMIUM0009": (_NAMELESS, [("", "BLAHHH")]),
    "CHROMIUM0010": (_NAMELESS, [("", '"BLA\\"HHH"')]),
    "CHROMIUM0012": (_NAMELESS, [("", "ABC")]),
    "MOZILLA0012": (_NAMELESS, [("test", '"fubar! = foo'), ("", "five")]),
    "MOZILLA0014": (_NAMELESS, [("", "six")]),
    "MOZILLA0015": (_NAMELESS, [("", "seven")]),
    "MOZILLA0016": (_NAMELESS, [("", "eight")]),
    "MOZILLA0017": (_NAMELESS, [("", "eight"), ("test", "six")]),
    "NAME0017": (_NAMELESS, [("", "a=bar")]),
    "NAME0023": (_NAMELESS, [("", "foo")]),
    "NAME0025": (_NAMELESS, [("", "==a=bar")]),
    "NAME0028": (_NAMELESS, [("", "a")]),
    "NAME0031": (_NAMELESS, [("", '"foo')]),
    "NAME0032": (_NAMELESS, [("", '"foo\\"bar')]),
    "NAME0033": (_NAMELESS, [("", "aaa")]),
    **{case: (_CONTROL, []) for case in CONTROL_CHARACTER_CASES},
    "DISABLED_PATH0029": (
        "RFC 6265bis 5.1.4: paths match as sent, so /f%6Fo/bar is not /foo/bar (DISABLED in "
        "http-state too)",
        [],
    ),
    "OPTIONAL_DOMAIN0042": (
        "RFC 6265bis 5.7 step 7: the last Domain attribute wins even when empty, making a "
        "host-only cookie; RFC 6265 let user agents skip the empty one (an OPTIONAL case)",
        [("foo", "bar")],
    ),
}

IGNORED_FOR_A_CONTROL_CHARACTER = [c for c in CASES if c["test"] in CONTROL_CHARACTER_CASES]
ONE_TO_ONE = [
    c
    for c in CASES
    if len(c["received"]) == 1 and len(c["sent"]) == 1 and c not in IGNORED_FOR_A_CONTROL_CHARACTER
]
ONE_TO_NONE = [
    c
    for c in CASES
    if len(c["received"]) == 1 and not c["sent"] and c["test"] not in RFC6265BIS_DIFFERS
]
THE_REST = [c for c in CASES if c not in ONE_TO_NONE]  # more headers, or RFC 6265bis differs


@dataclass(frozen=True)
class Stored:
    """A cookie in the user agent's store (RFC 6265bis 5.7)."""

    name: str
    value: str
    domain: str
    host_only: bool
    path: str
    created: int


def domain_matches(host: str, domain: str) -> bool:
    return host == domain or (host.endswith("." + domain) and not host.replace(".", "").isdigit())


def path_matches(request_path: str, cookie_path: str) -> bool:
    if request_path == cookie_path:
        return True
    return request_path.startswith(cookie_path) and (
        cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    )


def default_path(uri_path: str) -> str:
    if not uri_path.startswith("/") or uri_path.count("/") == 1:
        return "/"
    return uri_path[: uri_path.rfind("/")]


def expired(cookie: SetCookie) -> bool:
    if cookie.max_age is not None:
        return cookie.max_age <= 0
    return cookie.expires is not None and cookie.expires <= WRITTEN


def store(cookie: SetCookie, url: str, created: int) -> Stored | None:
    """The request-dependent storage steps; None when the user agent ignores the cookie."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    domain, host_only = host, True
    if cookie.domain is not None:
        public_suffix = "." not in cookie.domain  # every single label is (the list's "*" rule)
        if public_suffix and cookie.domain != host:
            return None
        if not public_suffix:
            if not domain_matches(host, cookie.domain):
                return None
            domain, host_only = cookie.domain, False
    if cookie.secure and parts.scheme != "https":
        return None
    path = cookie.path or default_path(parts.path)
    return Stored(cookie.name, cookie.value, domain, host_only, path, created)


def sent_back(case: dict[str, Any]) -> list[Pair]:
    """The cookies a user agent on this parser sends after receiving the case's headers."""
    set_from = SET_FROM.format(id=case["test"])
    jar: dict[tuple[str, str, bool, str], Stored] = {}
    for created, header in enumerate(case["received"]):
        cookie = parse_set_cookie(header)
        if cookie is None or (stored := store(cookie, set_from, created)) is None:
            continue
        key = (stored.name, stored.domain, stored.host_only, stored.path)
        old = jar.pop(key, None)  # a newer cookie replaces it, keeping its creation time
        if not expired(cookie):
            jar[key] = replace(stored, created=old.created) if old else stored
    target = urlsplit(urljoin(set_from, case.get("sent-to", RESULT_AT.format(id=case["test"]))))
    host = (target.hostname or "").lower()
    sent = [
        c
        for c in jar.values()
        if (host == c.domain if c.host_only else domain_matches(host, c.domain))
        and path_matches(target.path, c.path)
    ]
    sent.sort(key=lambda c: (-len(c.path), c.created))
    return [(c.name, c.value) for c in sent]


def expected(case: dict[str, Any]) -> list[Pair]:
    if case["test"] in RFC6265BIS_DIFFERS:
        return RFC6265BIS_DIFFERS[case["test"]][1]
    return [(c["name"], c["value"]) for c in case["sent"]]


def ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["test"] for c in cases]


def test_the_case_file_has_the_expected_size() -> None:
    assert len(CASES) == 222
    assert len(ONE_TO_ONE) >= 100
    assert len(IGNORED_FOR_A_CONTROL_CHARACTER) == len(CONTROL_CHARACTER_CASES)


@pytest.mark.parametrize("case", ONE_TO_ONE, ids=ids(ONE_TO_ONE))
def test_parser_yields_the_cookie_a_user_agent_sends_back(case: dict[str, Any]) -> None:
    cookie = parse_set_cookie(case["received"][0])
    assert cookie is not None
    assert (cookie.name, cookie.value) == (case["sent"][0]["name"], case["sent"][0]["value"])


@pytest.mark.parametrize(
    "case", IGNORED_FOR_A_CONTROL_CHARACTER, ids=ids(IGNORED_FOR_A_CONTROL_CHARACTER)
)
def test_a_header_with_a_control_character_is_ignored_where_http_state_truncates(
    case: dict[str, Any],
) -> None:
    assert parse_set_cookie(case["received"][0]) is None


@pytest.mark.parametrize("case", ONE_TO_NONE, ids=ids(ONE_TO_NONE))
def test_a_cookie_no_user_agent_sends_back_is_ignored_or_scoped_away(
    case: dict[str, Any],
) -> None:
    assert sent_back(case) == []


@pytest.mark.parametrize("case", THE_REST, ids=ids(THE_REST))
def test_a_user_agent_on_the_parser_sends_what_http_state_expects(case: dict[str, Any]) -> None:
    assert sent_back(case) == expected(case), RFC6265BIS_DIFFERS.get(case["test"], ("",))[0]
