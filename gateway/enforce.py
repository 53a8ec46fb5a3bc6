"""What passes in each direction: the Cookie header the app sees, the ``Set-Cookie`` lines
the browser gets, and the lines that expire refused cookies.

This runs on every request, so the work that depends only on header bytes is remembered per
bytes: a visitor sends the same Cookie header on every request until a cookie changes, and
apps send the same ``Set-Cookie`` lines again and again. Counting (metrics, unknown names)
still happens per request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gateway.consent import Category, ConsentState
from gateway.cookies import (
    expiry_headers,
    filter_cookie_pieces,
    set_cookie_name,
    split_cookie_header,
)
from gateway.metrics import UNKNOWN_CATEGORY, Metrics
from gateway.policy import ConsentPolicy

Header = tuple[bytes, bytes]
SET_COOKIE = b"set-cookie"
VARY = b"vary"
MAX_EXPIRED_NAMES = 16  # per response: up to 6 lines each must fit proxy header buffers
MEMO_SIZE = 4096


# Plain (not frozen) slotted classes: a frozen dataclass costs a microsecond to build, and
# these are built for every new Cookie header. Nothing mutates them after construction.
@dataclass(slots=True)
class RequestCookies:
    """What the app may see of one Cookie header under one set of grants."""

    header: bytes | None  # the header to pass on: the original bytes, or None for no cookies
    changed: bool
    refused: tuple[str, ...]  # refused names, each once, in header order
    refused_categories: tuple[str, ...]  # for the metric, one per refused pair
    unknown: tuple[str, ...]  # names no rule classifies, one per pair


@dataclass(slots=True)
class CookieHeader:
    """A request Cookie header split once."""

    pieces: list[tuple[str, str]]  # (name, "name=value")
    names: tuple[str, ...]
    consent_values: tuple[str, ...]  # every consent cookie sent: one name may come twice
    verdicts: dict[frozenset[Category], RequestCookies] = field(default_factory=dict)


NO_COOKIES = CookieHeader([], (), ())


class Enforcer:
    """Filters both directions for one gateway; built once, then called per request."""

    def __init__(self, policy: ConsentPolicy, metrics: Metrics, memo_size: int = MEMO_SIZE):
        self.policy = policy
        self.metrics = metrics
        self._memo_size = memo_size
        self._consent_cookie = policy.settings.cookie_name
        self._headers: dict[bytes, CookieHeader] = {}
        self._set_cookies: dict[bytes, tuple[Category | None, str | None]] = {}

    def parse(self, raw: bytes) -> CookieHeader:
        """The Cookie header ``raw`` split into pairs, remembered per bytes."""
        parsed = self._headers.get(raw)
        if parsed is None:
            pieces = split_cookie_header(raw.decode("latin-1"))
            consent = self._consent_cookie
            values = [piece.partition("=")[2].strip(" \t") for n, piece in pieces if n == consent]
            parsed = CookieHeader(pieces, tuple([name for name, _ in pieces]), tuple(values))
            if len(self._headers) >= self._memo_size:
                self._headers.clear()
            self._headers[raw] = parsed
        return parsed

    def request(self, raw: bytes, cookies: CookieHeader, state: ConsentState) -> RequestCookies:
        """The Cookie header the app may see, counting what was refused and unknown."""
        verdict = cookies.verdicts.get(state.granted)
        if verdict is None:
            verdict = cookies.verdicts[state.granted] = self._judge(raw, cookies, state)
        for category in verdict.refused_categories:
            self.metrics.removed(category, "request")
        for name in verdict.unknown:
            self.policy.note_unknown(name)
        return verdict

    def _judge(self, raw: bytes, cookies: CookieHeader, state: ConsentState) -> RequestCookies:
        categories: list[str] = []
        unknown: list[str] = []

        def keep(name: str) -> bool:
            category, is_unknown = self.policy.classify(name)
            if is_unknown:
                unknown.append(name)
            if category is not None and state.allows(category):
                return True
            categories.append(category.value if category else UNKNOWN_CATEGORY)
            return False

        kept, refused = filter_cookie_pieces("", cookies.pieces, keep)  # unchanged: ``raw``
        if not refused:
            return RequestCookies(raw, False, (), (), tuple(unknown))
        header = kept.encode("latin-1") if kept is not None else None
        return RequestCookies(header, True, tuple(refused), tuple(categories), tuple(unknown))

    def response(
        self,
        headers: Iterable[Sequence[bytes]],
        state: ConsentState,
        expired_names: Sequence[str],
        *,
        host: bytes | None,
        path: str,
        secure: bool,
    ) -> list[Header]:
        """The response headers without refused ``Set-Cookie`` lines, plus expiry lines for
        the refused cookies the browser sent, and ``Vary: Cookie`` when they differ by consent.

        A ``Set-Cookie`` a browser would ignore anyway (no parsable name) is dropped too: the
        gateway only lets through what it could classify.
        """
        kept: list[Header] = []
        varies = False
        vary_at = -1
        for raw_name, value in headers:
            if raw_name != SET_COOKIE and (len(raw_name) != 10 or raw_name.lower() != SET_COOKIE):
                if len(raw_name) == 4 and raw_name.lower() == VARY:
                    vary_at = len(kept)
                kept.append((raw_name, value))
                continue
            category = self._set_cookie_category(value)
            if category is None or not state.allows(category):
                self.metrics.removed(category.value if category else UNKNOWN_CATEGORY, "response")
                varies = True
                continue
            if category is not Category.ESSENTIAL:
                varies = True
            kept.append((SET_COOKIE, value))
        if expired_names:
            expired = expire_refused(
                expired_names,
                state,
                self.policy,
                self.metrics,
                host=host.decode("latin-1") if host else None,
                path=path,
                secure=secure,
            )
            kept.extend(expired)
            varies = varies or bool(expired)
        if varies:
            if vary_at < 0:
                kept.append((VARY, b"Cookie"))
            else:
                kept[vary_at] = (VARY, with_cookie(kept[vary_at][1]))
        return kept

    def _set_cookie_category(self, value: bytes) -> Category | None:
        """The category of the cookie a ``Set-Cookie`` value sets; None: it may never pass."""
        known = self._set_cookies.get(value)
        if known is None:
            name = set_cookie_name(value.decode("latin-1"))
            if name is None:
                known = (None, None)
            else:
                category, is_unknown = self.policy.classify(name)
                known = (category, name if is_unknown else None)
            if len(self._set_cookies) >= self._memo_size:
                self._set_cookies.clear()
            self._set_cookies[value] = known
        if known[1] is not None:
            self.policy.note_unknown(known[1])
        return known[0]


def expire_refused(
    names: Iterable[str],
    state: ConsentState,
    policy: ConsentPolicy,
    metrics: Metrics,
    *,
    host: str | None,
    path: str,
    secure: bool,
) -> list[Header]:
    """``Set-Cookie`` lines that delete the refused cookies the browser still sent."""
    expired: list[Header] = []
    count = 0
    for name in dict.fromkeys(names):
        category = policy.category_of(name)
        if category is not None and state.allows(category):
            continue
        count += 1
        if count > MAX_EXPIRED_NAMES:
            break
        metrics.removed(category.value if category else UNKNOWN_CATEGORY, "expired")
        expired.extend(
            (SET_COOKIE, line.encode("latin-1"))
            for line in expiry_headers(name, host, path, secure=secure)
        )
    return expired


def with_cookie(vary: bytes) -> bytes:
    """A ``Vary`` value that names Cookie, merged into what the app already said."""
    tokens = {token.strip().lower() for token in vary.split(b",")}
    return vary if b"cookie" in tokens or b"*" in tokens else vary + b", Cookie"
