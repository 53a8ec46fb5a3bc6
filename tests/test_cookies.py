"""Cookie and Set-Cookie parsing and building."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from gateway.cookies import (
    build_set_cookie,
    expiry_headers,
    filter_cookie_header,
    parse_cookie_header,
    parse_set_cookie,
    set_cookie_name,
)

TOKEN = st.text(
    alphabet="!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    min_size=1,
    max_size=30,
)
VALUE = st.text(alphabet="abcdefABCDEF0123456789-_.~%/:+", max_size=40)
LATIN1 = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255))


def test_cookie_header_keeps_order_and_duplicates() -> None:
    assert parse_cookie_header("a=1; b=2;a=3 ;; c") == [
        ("a", "1"),
        ("b", "2"),
        ("a", "3"),
        ("", "c"),
    ]


def test_filter_returns_the_same_header_when_nothing_is_refused() -> None:
    header = "a=1; b=2"
    kept, removed = filter_cookie_header(header, lambda name: True)
    assert kept is header
    assert removed == []


def test_filter_removes_every_refused_pair_once_named() -> None:
    kept, removed = filter_cookie_header("_ga=1; s=2; _ga=3; _fbp=4", lambda n: n == "s")
    assert kept == "s=2"
    assert removed == ["_ga", "_fbp"]
    assert filter_cookie_header("_ga=1", lambda n: False) == (None, ["_ga"])


def test_a_16kb_header_parses() -> None:
    header = "; ".join(f"c{i}={'v' * 20}" for i in range(700))
    assert len(header) > 16_000
    assert len(parse_cookie_header(header)) == 700


def test_set_cookie_attributes() -> None:
    cookie = parse_set_cookie(
        "id=a3fWa; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Max-Age=60; Domain=.Example.COM;"
        " Path=/docs; Secure; HttpOnly; SameSite=strict; Partitioned"
    )
    assert cookie is not None
    assert cookie.expires == datetime(2037, 10, 21, 7, 28, tzinfo=UTC)
    assert cookie.max_age == 60
    assert cookie.domain == "example.com"
    assert cookie.path == "/docs"
    assert cookie.secure and cookie.http_only and cookie.partitioned
    assert cookie.same_site == "Strict"


def test_malformed_set_cookie_values_are_ignored_like_a_browser_would() -> None:
    for header in ["", "=", ";;;", "; Path=/", "a=\x00b", "a\nb=c", "x=" + "v" * 5000]:
        assert parse_set_cookie(header) is None, header
        assert set_cookie_name(header) is None, header
    odd = parse_set_cookie("a=b; Expires=not a date; Max-Age=abc; SameSite=sideways")
    assert odd is not None
    assert odd.expires is None and odd.max_age is None and odd.same_site is None
    assert parse_set_cookie("a=b; Max-Age=-5") == parse_set_cookie("a=b; Max-Age=0")


def test_two_digit_years_and_date_ranges() -> None:
    assert parse_set_cookie("a=b; Expires=Wed, 09 Jun 21 10:18:14 GMT").expires.year == 2021  # type: ignore[union-attr]
    assert parse_set_cookie("a=b; Expires=Wed, 09 Jun 99 10:18:14 GMT").expires.year == 1999  # type: ignore[union-attr]
    assert parse_set_cookie("a=b; Expires=Wed, 32 Jun 2021 10:18:14 GMT").expires is None  # type: ignore[union-attr]


def test_expiry_headers_cover_path_and_domain_variants() -> None:
    lines = expiry_headers("_ga", "www.shop.example.co.uk:8443", "/blog/post", secure=False)
    assert all("Max-Age=0" in line and line.startswith("_ga=;") for line in lines)
    domains = {
        part.split("=")[1]
        for line in lines
        for part in line.split("; ")
        if part.startswith("Domain=")
    }
    assert domains == {"www.shop.example.co.uk", "shop.example.co.uk", "example.co.uk", "co.uk"}
    assert any("Path=/blog" in line for line in lines)
    assert any("Path=/;" in line or line.endswith("Path=/") for line in lines)


def test_expiry_headers_respect_cookie_prefixes_and_ip_hosts() -> None:
    assert expiry_headers("__Host-id", "example.com", "/", secure=False) == [
        "__Host-id=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Secure"
    ]
    assert all("Secure" in line for line in expiry_headers("__Secure-x", "a.b", "/", secure=False))
    assert not any(
        "Domain" in line for line in expiry_headers("_ga", "127.0.0.1:80", "/", secure=False)
    )
    assert not any(
        "Domain" in line for line in expiry_headers("_ga", "[::1]:80", "/", secure=False)
    )
    assert expiry_headers("_ga", None, "/", secure=False)


@given(TOKEN, VALUE, st.integers(0, 10**9), st.booleans(), st.booleans())
def test_build_then_parse_round_trips(
    name: str, value: str, max_age: int, secure: bool, http_only: bool
) -> None:
    cookie = parse_set_cookie(
        build_set_cookie(name, value, max_age=max_age, secure=secure, http_only=http_only)
    )
    assert cookie is not None
    assert (cookie.name, cookie.value, cookie.max_age) == (name, value, max_age)
    assert (cookie.secure, cookie.http_only, cookie.path, cookie.same_site) == (
        secure,
        http_only,
        "/",
        "Lax",
    )


@given(st.lists(st.tuples(TOKEN, VALUE), max_size=20))
def test_cookie_header_round_trips(pairs: list[tuple[str, str]]) -> None:
    assert parse_cookie_header("; ".join(f"{n}={v}" for n, v in pairs)) == pairs


@given(st.lists(st.tuples(TOKEN, VALUE), max_size=20), st.sets(TOKEN))
def test_filter_never_lets_a_refused_name_through(
    pairs: list[tuple[str, str]], refused: set[str]
) -> None:
    header = "; ".join(f"{n}={v}" for n, v in pairs)
    kept, _ = filter_cookie_header(header, lambda name: name not in refused)
    left = parse_cookie_header(kept or "")
    assert left == [(n, v) for n, v in pairs if n not in refused]


@given(LATIN1)
def test_nothing_raises_on_arbitrary_text(text: str) -> None:
    parse_cookie_header(text)
    filter_cookie_header(text, lambda name: len(name) % 2 == 0)
    cookie = parse_set_cookie(text)
    assert set_cookie_name(text) == (cookie.name if cookie else None)
    expiry_headers(text[:20], text[:30], "/" + text[:10], secure=True)
