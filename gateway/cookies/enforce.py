"""What passes in each direction: the Cookie header the app sees, the ``Set-Cookie`` lines
the browser gets, and the lines that expire refused cookies.

This runs on every request, so the work is remembered per header bytes: a visitor sends the
same Cookie header on every request until a cookie changes, and apps send the same
``Set-Cookie`` lines again and again. One look-up per request finds the ``Visit`` (consent
state and request verdict together), one per response its filtered headers (for visitors
without refused cookies, and only once every ``Set-Cookie`` line in it has been seen before:
a line with a per-visitor value would make every response a new entry), one per new
``Set-Cookie`` line its category. Counting (metrics, unknown names) still happens per
request: a visit counts itself, a response plan says what its caller counts.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import Scope

from gateway.consent.agents import UNSEEN, AgentClassifier
from gateway.consent.policy import ConsentPolicy
from gateway.consent.state import Category, ConsentState, visible
from gateway.cookies.declaration import SITE
from gateway.cookies.parse import (
    expiry_headers,
    filter_cookie_pieces,
    set_cookie_name,
    split_cookie_header,
)
from gateway.cookies.policy import CookiePolicy
from gateway.memo import Memo
from gateway.metrics import UNKNOWN_CATEGORY, Metrics
from gateway.proxies import client_address, truncate_ip
from gateway.settings import Settings

Header = tuple[bytes, bytes]
COOKIE = b"cookie"
USER_AGENT = b"user-agent"
SEC_GPC = b"sec-gpc"
SET_COOKIE = b"set-cookie"
VARY = b"vary"
CONTENT_TYPE = b"content-type"
MAX_EXPIRED_NAMES = 16  # per response: up to 6 lines each must fit proxy header buffers
MEMO_SIZE = 4096
# Bytes of keys (header values) each memo holds, and the longest key it files: a longer
# header is worked out every time. 16 KiB: what `serve`'s server accepts by default (the
# injection's memos use it too).
VISIT_MEMO_BYTES = 8 * 1024 * 1024
RESPONSE_MEMO_BYTES = 2 * 1024 * 1024  # per table (one per grant)
SET_COOKIE_MEMO_BYTES = 2 * 1024 * 1024
MAX_KEY_BYTES = 16 * 1024

# Categories as bits, so the per-line check is integer arithmetic (hashing an enum member
# calls Python code). Essential is 0: ``bit & granted == bit`` always holds for it.
_BIT = {
    Category.ESSENTIAL: 0,
    Category.PREFERENCES: 1,
    Category.ANALYTICS: 2,
    Category.MARKETING: 4,
}
NEVER = 8  # cookies that may never pass (``unknown_cookies = "deny"``, unparsable lines)


@dataclass(slots=True, eq=False)  # hashed by identity
class ResponsePlan:
    """What a response start gets: its headers after enforcement, and what each such response
    counts. A remembered plan is handed out again, the same object, for the same response
    headers and grants; so later steps may file their own decisions under it."""

    headers: tuple[Header, ...]
    html: bool  # the Content-Type is an HTML page's (the injection's first question)
    removed: tuple[object, ...]  # metric children: refused Set-Cookie lines dropped
    unknown: tuple[str, ...]  # Set-Cookie names no rule classifies
    remembered: bool  # handed out again for the same headers and grants


def request_headers(headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """Request headers by (lower-case) name, built in C; a repeated header's last value wins,
    but repeated Cookie headers (HTTP/2 sends one per cookie) are joined with "; "."""
    named = dict(headers)
    if len(named) != len(headers):
        cookies = [value for name, value in headers if name == COOKIE]
        if len(cookies) > 1:
            named[COOKIE] = b"; ".join(cookies)
    return named


XHTML = b"application/xhtml+xml"


def is_html(content_type: bytes) -> bool:
    """Whether a ``Content-Type`` is an HTML page's."""
    media = content_type.partition(b";")[0].strip().lower()
    return media == b"text/html" or media == XHTML


def granted_bits(state: ConsentState) -> int:
    """The categories ``state`` grants, as the bits of ``_BIT``."""
    return sum(_BIT[category] for category in state.granted)


# A plain (not frozen) slotted class: a frozen dataclass costs a microsecond to build, and
# one is built for every new visitor.
@dataclass(slots=True)
class Visit:
    """Everything decided from one request's Cookie, User-Agent, GPC and place headers."""

    state: ConsentState
    invalid_consent: bool  # a consent cookie was sent but did not verify
    bot_kind: str | None
    granted: int  # ``state.granted`` as bits
    cookie_names: tuple[str, ...]
    app_cookie: bytes | None  # the Cookie header the app sees; None: no cookies at all
    changed: bool  # the app's Cookie header differs from the browser's
    refused: tuple[str, ...]  # refused names, each once, in header order
    refused_categories: tuple[str, ...]  # for the metric, one per refused pair
    unknown: tuple[str, ...]  # names no rule classifies, one per pair
    valid_until: float  # the consent decision expires then
    counted: bool  # each request of this visit adds to a metric or the unknown-name log
    # ``visible(state)``, what a page may reflect of it, as a number never reused: a cheap
    # part of memo keys
    shown_id: int
    agent: bytes  # the User-Agent header it was judged with


class Enforcer:
    """Filters both directions for one gateway; built once, then called per request."""

    def __init__(
        self,
        consent: ConsentPolicy,
        cookies: CookiePolicy,
        agents: AgentClassifier,
        settings: Settings,
        metrics: Metrics,
        memo_size: int = MEMO_SIZE,
    ):
        self.consent = consent
        self.cookies = cookies
        self.metrics = metrics
        self._expire_refused = settings.expire_refused_cookies
        resolver = consent.resolver
        # The request headers a visit depends on (the place headers only when configured);
        # the client address only counts with a GeoIP database.
        places = (resolver.country_header, resolver.subdivision_header)
        self._place_headers = tuple(name for name in places if name)
        self._reads_ip = resolver.reads_client_ip
        self._plain_key = not self._place_headers and not self._reads_ip
        self._declares = settings.declare_seen_cookies
        self._bot_kind = agents.bot_kind
        self._agents_seen = agents.seen
        self._visits: Memo[object, Visit] = Memo(
            "visits", memo_size, VISIT_MEMO_BYTES, MAX_KEY_BYTES
        )
        # Set-Cookie value -> (category bit, metric label, the name when no rule knows it)
        self._set_cookies: Memo[bytes, tuple[int, str, str | None]] = Memo(
            "set_cookie_lines", memo_size, SET_COOKIE_MEMO_BYTES, MAX_KEY_BYTES
        )
        # Per granted bits (one table each: no key tuple to build), response headers -> what
        # ``response`` returns, and what it counts
        self._responses: list[Memo[tuple[object, ...], ResponsePlan]] = [
            Memo("response_plans", memo_size, RESPONSE_MEMO_BYTES, MAX_KEY_BYTES)
            for _ in range(sum(_BIT.values()) + 1)
        ]
        # Per granted bits, the latest plan handed out and the headers (a list, as apps send
        # them) it was for
        self._last_plans: list[tuple[object, ResponsePlan | None]] = [
            (None, None) for _ in self._responses
        ]
        self.memos: tuple[Memo[Any, Any], ...] = (self._visits, self._set_cookies, *self._responses)
        # ``visible(state)`` -> its number: an id, not a remembered answer (never cleared)
        self._shown_ids: dict[tuple[object, ...], int] = {}
        self._next_shown = itertools.count()

    def forget_last_plans(self) -> None:
        """Forget the plans handed out last, with the memos they came from (``Gateway``'s
        ``clear_memos``)."""
        self._last_plans[:] = [(None, None) for _ in self._responses]

    def visit(self, headers: Mapping[bytes, bytes], scope: Scope) -> Visit:
        """The visit for the request in ``scope`` whose headers by name are ``headers``
        (``request_headers``), counted: invalid consent cookies, bots, refused and unknown
        cookies."""
        get = headers.get
        agent = get(USER_AGENT, b"")
        plain = self._plain_key  # the usual configuration: no place headers, no GeoIP database
        if plain:
            cookie, gpc = get(COOKIE), get(SEC_GPC)
            if gpc is None:
                # The usual visitor, a browser without GPC, by the Cookie header alone (bytes
                # or None: no tuple to build and hash). The User-Agent it was judged with
                # again: a browser's (only those are filed so), without the bot check.
                visits = self._visits
                visit = visits.table.get(cookie)
                if visit is not None and visit.agent == agent and visit.valid_until >= time.time():
                    visits.hits += 1
                    if visit.counted:
                        self._count(visit)
                    return visit
        # The bot kind, not the User-Agent: one visitor's requests share a User-Agent anyway,
        # and keying on it would make every new browser version a new visit.
        seen = self._agents_seen
        bot_kind = seen.table.get(agent, UNSEEN)  # the usual case, without a call
        if bot_kind is UNSEEN:
            bot_kind = self._bot_kind(agent)
        else:
            seen.hits += 1
        client_ip = None
        key: object
        if plain:  # keys of other shapes than the browser's are tuples
            key = cookie if bot_kind is None and gpc is None else (bot_kind, cookie, gpc)
        else:
            client_ip = client_address(scope) if self._reads_ip else None
            places = tuple(get(name) for name in self._place_headers)
            key = (bot_kind, get(COOKIE), get(SEC_GPC), client_ip, places)
        visit = self._visits.table.get(key)
        if visit is None or visit.valid_until < time.time():
            visit = self._judge(headers, client_ip, bot_kind, agent, scope)
            # Its bytes: the headers it is filed by, and its own copy of the Cookie header.
            size = len(get(COOKIE) or b"")
            if visit.changed and visit.app_cookie is not None:
                size += len(visit.app_cookie)
            if not plain:
                size += sum(len(get(name) or b"") for name in self._place_headers)
            self._visits.put(key, visit, size)
        else:
            self._visits.hits += 1
        if visit.counted:
            self._count(visit)
        return visit

    def _network(self, scope: Scope, client_ip: str | None) -> str | None:
        """The network of the visitor (``gateway.cookies.declaration``): ``client_ip`` when the
        GeoIP look-up read it already."""
        address = client_ip if self._reads_ip else client_address(scope)
        return truncate_ip(address) if address else None

    def _count(self, visit: Visit) -> None:
        metrics = self.metrics
        if visit.invalid_consent:
            metrics.tally.add(metrics.invalid_consent_cookies)
        if visit.bot_kind is not None:
            metrics.bot(visit.bot_kind)
        for category in visit.refused_categories:
            metrics.removed(category, "request")
        for name in visit.unknown:
            self.cookies.note_unknown(name)

    def _judge(
        self,
        headers: Mapping[bytes, bytes],
        client_ip: str | None,
        bot_kind: str | None,
        agent: bytes,
        scope: Scope,
    ) -> Visit:
        raw_cookie = headers.get(COOKIE, b"")
        # Whose browser sent these cookies, for the declaration; a bot's are no evidence.
        shown_by = None
        if self._declares and raw_cookie and bot_kind is None:
            shown_by = self._network(scope, client_ip)
        pieces = split_cookie_header(raw_cookie.decode("latin-1"))
        values = self.consent.cookie_values(pieces)
        state, invalid, valid_until = self.consent.state(
            values, headers, client_ip, bot_kind is not None
        )
        categories: list[str] = []
        unknown: list[str] = []

        def keep(name: str) -> bool:
            category, is_unknown = self.cookies.classify(name, shown_by)
            if is_unknown:
                unknown.append(name)
            if category is not None and state.allows(category):
                return True
            categories.append(category.value if category else UNKNOWN_CATEGORY)
            return False

        kept, refused = filter_cookie_pieces("", pieces, keep)  # unchanged: ``raw_cookie``
        app_cookie: bytes | None = raw_cookie or None
        if refused:
            app_cookie = kept.encode("latin-1") if kept is not None else None
        shown = visible(state)
        shown_id = self._shown_ids.get(shown)
        if shown_id is None:  # few values: the choices and policy versions the site issued
            shown_id = self._shown_ids[shown] = next(self._next_shown)
        return Visit(
            state=state,
            invalid_consent=invalid,
            bot_kind=bot_kind,
            granted=granted_bits(state),
            cookie_names=tuple([name for name, _ in pieces]),
            app_cookie=app_cookie,
            changed=bool(refused),
            refused=tuple(refused),
            refused_categories=tuple(categories),
            unknown=tuple(unknown),
            valid_until=valid_until,
            counted=bool(invalid or bot_kind or categories or unknown),
            shown_id=shown_id,
            agent=agent,
        )

    def response(
        self, headers: Iterable[Sequence[bytes]], visit: Visit, scope: Scope
    ) -> ResponsePlan:
        """The response headers without refused ``Set-Cookie`` lines, plus expiry lines for
        the refused cookies the browser sent, and ``Vary: Cookie`` when they differ by consent;
        whether the ``Content-Type`` is HTML; and what each such response counts (the caller
        counts it).

        A ``Set-Cookie`` a browser would ignore anyway (no parsable name) is dropped too: the
        gateway only lets through what it could classify. Names are compared by length first
        (most headers are neither of the three), in any letter case.
        """
        key: tuple[object, ...] | None = None
        granted = visit.granted
        if not visit.refused:  # then the result depends on nothing but these and the grants
            last_headers, plan = self._last_plans[granted]
            if headers == last_headers:  # compared, not hashed: the same page again
                self._responses[granted].hits += 1
            else:
                key = tuple(headers)
                try:
                    plans = self._responses[granted]
                    plan = plans.table.get(key)
                except TypeError:  # header pairs as lists
                    plan = key = None
                else:
                    if plan is not None:
                        plans.hits += 1
                        self._last_plans[granted] = (list(key), plan)
            if plan is not None:
                return plan
        kept: list[Header] = []
        varies = False
        vary_at = -1
        content_type = None
        removed: list[object] = []
        unknown_names: list[str] = []
        fresh = False  # a Set-Cookie line not seen before: likely a value per visitor
        for raw_name, value in headers:
            size = len(raw_name)
            if size != 10 or (raw_name != SET_COOKIE and raw_name.lower() != SET_COOKIE):
                if size == 12 and raw_name.lower() == CONTENT_TYPE:
                    content_type = value
                elif size == 4 and raw_name.lower() == VARY:
                    vary_at = len(kept)
                kept.append((raw_name, value))
                continue
            line = self._set_cookies.table.get(value)
            if line is None:
                line = self._classify_line(value)
                fresh = True
            else:
                self._set_cookies.hits += 1
            bit, label, unknown = line
            if unknown is not None:
                unknown_names.append(unknown)
            if bit:
                varies = True  # only essential cookies pass whatever the visitor chose
                if bit & granted != bit:
                    removed.append(self.metrics.removed_child(label, "response"))
                    continue
            kept.append((SET_COOKIE, value))
        if visit.refused and self._expire_refused:
            expired = expire_refused(
                visit.refused,
                visit.state,
                self.cookies,
                self.metrics,
                host=request_host(scope),
                path=scope["path"],
                secure=scope.get("scheme") == "https",
            )
            kept.extend(expired)
            varies = varies or bool(expired)
        if varies:
            if vary_at < 0:
                kept.append((VARY, b"Cookie"))
            else:
                kept[vary_at] = (VARY, with_cookie(kept[vary_at][1]))
        html = content_type is not None and is_html(content_type)
        remember = key is not None and not fresh  # one-off responses would only churn memory
        plan = ResponsePlan(tuple(kept), html, tuple(removed), tuple(unknown_names), remember)
        if key is not None and remember:
            size = sum(len(name) + len(value) for name, value in headers)
            plans = self._responses[granted]
            plans.put(key, plan, size)
            if key in plans.table:  # the last plan is always one the memo holds
                self._last_plans[granted] = (list(key), plan)
        return plan

    def _classify_line(self, value: bytes) -> tuple[int, str, str | None]:
        """What the memo holds for one ``Set-Cookie`` value."""
        name = set_cookie_name(value.decode("latin-1"))
        if name is None:
            known: tuple[int, str, str | None] = (NEVER, UNKNOWN_CATEGORY, None)
        else:
            category, is_unknown = self.cookies.classify(name, SITE if self._declares else None)
            unknown = name if is_unknown else None
            if category is None:
                known = (NEVER, UNKNOWN_CATEGORY, unknown)
            else:
                known = (_BIT[category], category.value, unknown)
        return self._set_cookies.put(value, known, len(value))


def expire_refused(
    names: Iterable[str],
    state: ConsentState,
    cookies: CookiePolicy,
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
        category = cookies.category_of(name)
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


def request_host(scope: Scope) -> str | None:
    """The request's Host header, as text (from a trusted proxy: the visitor's, which the
    middleware put there)."""
    for name, value in scope["headers"]:
        if name == b"host":
            return bytes(value).decode("latin-1")
    return None


def with_cookie(vary: bytes) -> bytes:
    """A ``Vary`` value that names Cookie, merged into what the app already said."""
    tokens = {token.strip().lower() for token in vary.split(b",")}
    return vary if b"cookie" in tokens or b"*" in tokens else vary + b", Cookie"
