"""Banner insertion and tracker neutralisation for HTML responses: the ASGI side.

``Injector`` is built once per gateway. For a 200 HTML response, ``Injector.start`` decides
what the page may get (the banner, unless the page's CSP refuses it or the request is a
fetch; tracker neutralisation, when the visitor lacks a category) and returns a
``PageResponder``, which holds ``http.response.start`` back until it knows what it sends:

- the rewritten page, with ``Content-Length`` recomputed when the whole body is known (one
  message) and removed otherwise, the validators (``ETag``, ``Last-Modified``) dropped (they
  vouch for the app's bytes, not for this visitor's variant: a 304 would hand a visitor a
  page made for another consent state), and ``Vary: Cookie``;
- or, when it cannot or need not rewrite it (no place within the look-ahead, an unknown or
  corrupt encoding, a zero-copy send), exactly what the app sent, counted by reason.

A body in one message (the usual case) is rewritten whole, and the result is remembered by
its bytes and variant: sites send the same bytes to many visitors, and the inserted tags have
few variants; the page sent last goes out again without a look-up. Streamed bodies are
decoded, rewritten and re-encoded chunk by chunk; if the stream turns out corrupt or cut
short after rewritten bytes went out, the response ends with what was valid instead of
sending garbage, and without the coding's end marker, so the client sees it incomplete.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from starlette.types import Message, Scope, Send

from gateway.consent.state import ALL_GRANTED, Category, ConsentState, Regime, visible
from gateway.cookies.enforce import (
    CONTENT_TYPE,
    MAX_KEY_BYTES,
    XHTML,
    Header,
    ResponsePlan,
    Visit,
    with_cookie,
)
from gateway.html.banner import Banner, Snippet
from gateway.html.content_coding import (
    SUPPORTED,
    DecodeError,
    Decoder,
    Encoder,
    decoder,
    encoder,
    normalise,
)
from gateway.html.csp import ALLOWED, Origin, Verdict, verdict
from gateway.html.rewriter import INSERTED, HtmlRewriter, TrackerHook, tag_of, xml_syntax
from gateway.memo import Memo
from gateway.metrics import UNKNOWN_CATEGORY, Metrics

logger = logging.getLogger("consent_gateway")

PAGE_MEMO = 4096
PAGE_MEMO_BYTES = 16 * 1024 * 1024  # rewritten pages remembered, upstream and output bytes
PAGE_MEMO_ENTRY = 1024 * 1024  # larger bodies are rewritten every time
SNIPPET_MEMO = 4096
DECISION_MEMO = 4096
DECISION_MEMO_BYTES = 2 * 1024 * 1024  # of request and response header bytes in the keys
SNIPPET_MEMO_BYTES = 1024 * 1024  # of CSP nonces in the keys
CSP_MEMO = 1024
CSP_MEMO_BYTES = 2 * 1024 * 1024  # of Content-Security-Policy headers in the keys

# Encodings in which ASCII bytes are not ASCII characters (WHATWG labels).
NOT_ASCII_CHARSETS = frozenset(
    {
        "utf-16", "utf-16le", "utf-16be", "unicode", "unicodefeff", "unicodefffe", "csunicode",
        "ucs-2", "iso-10646-ucs-2", "utf-32", "utf-32le", "utf-32be", "iso-2022-jp",
        "csiso2022jp", "iso-2022-kr", "csiso2022kr", "iso-2022-cn", "iso-2022-cn-ext",
        "hz-gb-2312", "replacement",
    }
)  # fmt: skip
DOCUMENT_DESTINATIONS = frozenset({b"document", b"iframe", b"frame", b"embed", b"object"})
# Validators and checksums of the app's bytes, and range support, do not hold for a rewrite.
_DROPPED = frozenset(
    {
        b"content-length", b"etag", b"last-modified", b"content-md5", b"content-digest",
        b"repr-digest", b"accept-ranges",
    }
)  # fmt: skip
_SHARED_ONLY = frozenset({b"public", b"s-maxage"})  # directives for shared caches
_CATEGORY_LABELS = {category.value: category.value for category in Category}

Mode = Literal["holding", "streaming", "passing", "done"]


@dataclass(frozen=True, slots=True)
class Rewritten:
    """What became of one page body."""

    body: bytes  # to send, encoded like the app's; empty when ``modified`` is false
    modified: bool  # false: send the app's bytes as they are
    outcome: str  # the banner: html.INSERTED, html.GAVE_UP, ..., or "decode_error"
    categories: tuple[str, ...]  # the trackers made inert, by category
    counters: tuple[Any, ...] = ()  # the metric children each serving of it increments
    thorough: bool = True  # false: encoded fast; worth encoding better once it repeats


# Rewritten one-message pages: by (length, variant) the last PAGE_BUCKET pages of that length
# and variant with their rewrites, the bytes compared on a hit, so a look-up costs a
# comparison of the page (memcmp speed), not a hash of it.
Variant = tuple[str, bytes, bytes, frozenset[Category] | None]  # coding, tags, trackers
PageKey = tuple[int, Variant]
PageBucket = tuple[tuple[bytes, Rewritten], ...]
PAGE_BUCKET = 4


def find_page(pages: Memo[PageKey, PageBucket], body: bytes, variant: Variant) -> Rewritten | None:
    """The rewrite ``pages`` holds for ``body`` in ``variant``, or None."""
    for known, result in pages.table.get((len(body), variant), ()):
        if known == body:
            pages.hits += 1
            return result
    return None


def file_page(
    pages: Memo[PageKey, PageBucket], body: bytes, variant: Variant, result: Rewritten
) -> bool:
    """File ``result`` (replacing an older rewrite of the same page, the oldest page of its
    bucket leaving when it is full); false when it is too large to keep."""
    key = (len(body), variant)
    others = tuple(pair for pair in pages.table.get(key, ()) if pair[0] != body)
    size = len(body) + len(result.body) + len(variant[1]) + len(variant[2])
    pages.put(key, (*others[-(PAGE_BUCKET - 1) :], (body, result)), size)
    return size <= pages.max_key and pages.max_entries > 0


@dataclass(frozen=True, slots=True)
class Sent:
    """A one-message page as it went out: for the same page and bytes, it goes out again."""

    page: Page | None
    app_body: bytes  # what the app sent
    headers: Sequence[Sequence[bytes]]  # the start's
    body: bytes
    counters: tuple[Any, ...]


_NOTHING_SENT = Sent(None, b"", [], b"", ())


class Page:
    """What one HTML response gets, decided at its start message (and remembered with it)."""

    __slots__ = (
        "body",
        "coding",
        "for_head",
        "granted",
        "head",
        "headers",
        "start_headers",
        "trackers",
        "variant",
    )

    def __init__(
        self,
        coding: str,
        head: bytes,
        body: bytes,
        trackers: TrackerHook | None,
        granted: frozenset[Category],
        headers: Sequence[Sequence[bytes]] = (),
        for_head: bool = False,
    ) -> None:
        self.coding = coding
        self.head = head  # the banner's tags for <head>; empty: no banner
        self.body = body  # its no-script part for <body>
        self.trackers = trackers
        self.granted = granted
        # What the rewrite depends on besides the body: part of the page memo's keys
        self.variant: Variant = (coding, head, body, granted if trackers else None)
        self.headers = headers  # the app's, enforced, which the page was decided from
        self.for_head = for_head  # a HEAD request's: the app may send no body
        self.start_headers: dict[int | None, list[Header]] = {}

    def passed_start(self, start: Message) -> Message:
        """The app's start message with the enforced headers, for a page sent as it is."""
        return {**start, "headers": list(self.headers)}

    def rewritten_start(self, start: Message, content_length: int | None) -> Message:
        """The app's start message with ``rewritten_headers``; new lists each time, as a
        middleware outside may change them."""
        return {**start, "headers": list(self.rewritten_headers(content_length))}

    def rewritten_headers(self, content_length: int | None) -> list[Header]:
        """``rewritten_headers`` of the enforced headers, remembered per length (a repeated
        page has the same ones every time)."""
        found = self.start_headers.get(content_length)
        if found is None:
            if len(self.start_headers) >= 16:
                self.start_headers.clear()
            found = rewritten_headers(self.headers, content_length)
            self.start_headers[content_length] = found
        return found


class Injector:
    """Decides per HTML response; holds what is built once (memo, snippets, paths)."""

    def __init__(
        self,
        banner: Banner,
        metrics: Metrics,
        *,
        insert: bool,
        block_trackers: str,
        trackers: TrackerHook | None,
        api_prefix: str,
        crawlers: frozenset[str] = frozenset(),
    ) -> None:
        self.banner = banner
        self.metrics = metrics
        self.insert = insert
        self.block_trackers = block_trackers
        self.trackers = trackers if block_trackers != "never" else None
        self.active = insert or self.trackers is not None  # whether any page is rewritten
        self.pages: Memo[PageKey, PageBucket] = Memo(
            "pages", PAGE_MEMO, PAGE_MEMO_BYTES, PAGE_MEMO_ENTRY
        )
        # start() decisions by everything they depend on: a repeated page repeats them.
        self._decisions: Memo[tuple[object, ...], tuple[Page | None, str | None]] = Memo(
            "page_decisions", DECISION_MEMO, DECISION_MEMO_BYTES, MAX_KEY_BYTES
        )
        # The page sent last, sent again without a look-up: it holds its Page, which a
        # cleared decision memo never hands out again, so it needs no clearing of its own.
        self._last_sent = _NOTHING_SENT
        self._snippets: Memo[tuple[object, ...], Snippet] = Memo(
            "banner_snippets", SNIPPET_MEMO, SNIPPET_MEMO_BYTES, MAX_KEY_BYTES
        )
        self._verdicts: Memo[tuple[object, ...], Verdict] = Memo(
            "csp_verdicts", CSP_MEMO, CSP_MEMO_BYTES, MAX_KEY_BYTES
        )
        self.memos = (self.pages, self._decisions, self._snippets, self._verdicts)
        self._script = banner.url("banner.js")
        self._style = banner.url("banner.css")
        self._api = api_prefix + "/state"
        self.crawlers = crawlers  # bot kinds whose pages go out without the banner

    def start(
        self,
        plan: ResponsePlan,
        scope: Scope,
        request_headers: Mapping[bytes, bytes],
        visit: Visit,
    ) -> tuple[Page | None, str | None]:
        """What an HTML page with status 200 and the enforced headers of ``plan`` gets (None:
        let it pass as it is), and the skip reason each such response counts (the caller
        counts it); ``request_headers`` are the request's by name. The caller holds the
        start message back and hands the body to ``whole`` (one message) or to a
        ``PageResponder``. A HEAD request gets what GET would: the same headers."""
        # What the page can depend on: the headers, the request, and the visible part of the
        # consent state (as the banner shows it: no consent id, no time), not the visitor.
        asked = (
            visit.shown_id,
            request_headers.get(b"host"),
            request_headers.get(b"sec-fetch-dest"),
            scope["state"].get("csp_nonce"),  # the app's, for the tags it inserts
            scope.get("scheme"),
            scope["method"] == "HEAD",
            visit.bot_kind in self.crawlers,
        )
        # Remembered by the plan (a remembered plan stands for its headers, and is hashed by
        # identity) and what was asked.
        headers = plan.headers
        key = (plan if plan.remembered else headers, asked)
        decisions = self._decisions
        decided = decisions.table.get(key)
        if decided is not None:
            decisions.hits += 1
        else:
            _, host, dest, app_nonce, scheme, for_head, crawler = asked
            decided = self._decide(
                headers, scheme or "http", visit.state, app_nonce, host, dest, for_head, crawler
            )
            size = len(host or b"") + len(dest or b"")
            size += len(app_nonce) if isinstance(app_nonce, str) else 0
            if not plan.remembered:
                size += sum(len(name) + len(value) for name, value in headers)
            decisions.put(key, decided, size)
        return decided

    def _decide(
        self,
        headers: Sequence[Sequence[bytes]],
        scheme: str,
        state: ConsentState,
        app_nonce: object,
        host: bytes | None,
        dest: bytes | None,
        for_head: bool,
        crawler: bool,
    ) -> tuple[Page | None, str | None]:
        """What a page with these headers gets, for this visitor and request: the page (None:
        pass it through) and the skip reason to count for each such response. A crawler gets
        no banner (nobody could answer it, and its text would be indexed), but its trackers
        are neutralised all the same."""
        content_type = coding_header = None
        policies: list[str] = []
        reports: list[str] = []
        for raw_name, value in headers:
            name = raw_name.lower()
            if name == CONTENT_TYPE:
                content_type = value
            elif name == b"content-encoding":
                coding_header = value
            elif name == b"content-range":
                return None, None
            elif name == b"content-disposition":
                if value.split(b";", 1)[0].strip().lower() == b"attachment":
                    return None, None
            elif name == b"content-security-policy":
                policies.append(value.decode("latin-1"))
            elif name == b"content-security-policy-report-only":
                reports.append(value.decode("latin-1"))
        coding = normalise(coding_header)
        if coding not in SUPPORTED:
            return None, "encoding"
        assert content_type is not None
        media, _, parameters = content_type.decode("latin-1").partition(";")
        if _charset(parameters) in NOT_ASCII_CHARSETS:
            return None, "charset"
        trackers = self._trackers_for(state)
        head = body = b""
        skipped = None
        if self.insert:
            if crawler:
                skipped = "bot"
            elif dest is not None and dest.lower() not in DOCUMENT_DESTINATIONS:
                skipped = "not_document"
            else:
                nonce = app_nonce if isinstance(app_nonce, str) and app_nonce else None
                origin = Origin.of(scheme, host.decode("latin-1") if host else None)
                head, body = self._tags(state, origin, policies, reports, nonce, media)
                if not head:
                    skipped = "csp"
        if not head and trackers is None:
            return None, skipped
        page = Page(coding, head, body, trackers, state.granted, headers, for_head)
        return page, skipped

    def _trackers_for(self, state: ConsentState) -> TrackerHook | None:
        """The hook, when the visitor lacks a category and neutralisation applies to them."""
        if self.trackers is None or state.granted == ALL_GRANTED:
            return None
        if self.block_trackers == "opt-in" and state.regime != Regime.OPT_IN:
            return None
        return self.trackers

    def _tags(
        self,
        state: ConsentState,
        origin: Origin,
        policies: list[str],
        reports: list[str],
        app_nonce: str | None,
        media: str,
    ) -> tuple[bytes, bytes]:
        """The banner's (head, body) tags for this page, or empty ones when its CSP refuses."""
        allowed = ALLOWED
        if policies or reports or app_nonce is not None:
            # Remembered apart from the decisions: a page that sets a cookie per visitor
            # misses those every time, and its policy is the same for all of them.
            key = (tuple(policies), tuple(reports), app_nonce, origin)
            found = self._verdicts.table.get(key)
            if found is None:
                found = verdict(
                    *key[:3],
                    origin=origin,
                    script_path=self._script,
                    style_path=self._style,
                    api_path=self._api,
                )
                size = sum(map(len, policies)) + sum(map(len, reports)) + len(origin.host)
                self._verdicts.put(key, found, size + len(app_nonce or ""))
            else:
                self._verdicts.hits += 1
            allowed = found
        if not allowed.allowed:
            return b"", b""
        xhtml = media.strip().lower() == XHTML.decode()
        snippet = self._snippet(state, allowed.nonce, xhtml)
        return snippet.head, snippet.body if allowed.form else b""

    def _snippet(self, state: ConsentState, nonce: str | None, xhtml: bool) -> Snippet:
        key = (visible(state), nonce, xhtml)
        snippet = self._snippets.table.get(key)
        if snippet is None:
            snippet = self.banner.snippet(state, nonce)
            if xhtml:  # XML syntax, and no <noscript>: XHTML pages always render it
                snippet = Snippet(head=xml_syntax(snippet.head), body=b"")
            self._snippets.put(key, snippet, len(nonce or ""))
        else:
            self._snippets.hits += 1
        return snippet

    async def whole(self, page: Page, start: Message, body: bytes, send: Send) -> None:
        """Send a page whose body came in one message (the usual case): as it was sent last
        time, rewritten whole, or found in the memo."""
        if page.for_head and not body:
            # HEAD answered without the body: the rewritten length is unknown, and a wrong
            # Content-Length is worse than none (the other headers are GET's).
            await send(page.rewritten_start(start, None))
            await send({"type": "http.response.body", "body": b""})
            return
        sent = self._last_sent
        if sent.page is not page or sent.app_body != body:
            sent = self._sending(page, body)
        self.metrics.tally.add(sent.counters)
        await send({**start, "headers": list(sent.headers)})
        await send({"type": "http.response.body", "body": sent.body})

    def _sending(self, page: Page, body: bytes) -> Sent:
        """What goes out for ``body``: the memo's rewrite, made (fast) or made again
        (thoroughly: it was sent before, so it is worth the smaller encoding, once). What
        the memo keeps in its final form is sent that way again without a look-up."""
        result = find_page(self.pages, body, page.variant)
        final = result is not None and result.thorough
        if result is None or not result.thorough:
            result = self._rewrite_safely(page, body, thorough=result is not None)
            final = file_page(self.pages, body, page.variant, result) and result.thorough
        if result.modified:
            sent = Sent(
                page, body, page.rewritten_headers(len(result.body)), result.body, result.counters
            )
        else:
            sent = Sent(page, body, page.headers, body, result.counters)
        if final:
            self._last_sent = sent
        return sent

    def _rewrite_safely(self, page: Page, body: bytes, *, thorough: bool) -> Rewritten:
        try:
            return self.rewrite_whole(page, body, thorough=thorough)
        except Exception:
            logger.exception("could not rewrite an HTML page; sending it as it is")
            return Rewritten(b"", False, "error", (), self.counters("error"))

    def rewrite_whole(self, page: Page, body: bytes, *, thorough: bool = False) -> Rewritten:
        """One whole body, rewritten (or not), as the memo keeps it; re-encoded fast, or
        ``thorough``ly (``content_coding.encoder``)."""
        categories: list[str] = []
        rewriter = self._rewriter(page, categories)
        decoding = decoder(page.coding)
        try:
            pieces = [rewriter.feed(piece) for piece in decoding.decode(body)]
            decoding.finish()
        except DecodeError:
            return Rewritten(b"", False, "decode_error", (), self.counters("decode_error"))
        pieces.append(rewriter.finish())
        outcome = rewriter.outcome
        if outcome != INSERTED and not categories:
            return Rewritten(b"", False, outcome, (), self.counters(outcome))
        encoding = encoder(page.coding, like=decoding, thorough=thorough)
        out = encoding.encode(b"".join(pieces)) + encoding.finish()
        found = tuple(categories)
        counters = self.counters(outcome, found)
        return Rewritten(out, True, outcome, found, counters, thorough or not page.coding)

    def _rewriter(self, page: Page, categories: list[str]) -> HtmlRewriter:
        def neutralised(replacement: bytes) -> None:
            tag = tag_of(replacement)
            wanted = dict(tag.attrs).get("data-consent") if tag else None
            categories.append(_CATEGORY_LABELS.get(wanted or "", UNKNOWN_CATEGORY))

        return HtmlRewriter(
            page.head,
            page.body,
            trackers=page.trackers,
            granted=page.granted,
            on_neutralised=neutralised,
        )

    def counters(self, outcome: str, categories: Iterable[str] = ()) -> tuple[Any, ...]:
        """The metric children a page with this outcome adds to."""
        metrics = self.metrics
        found: list[Any] = [metrics.neutralised[category] for category in categories]
        if outcome == INSERTED:
            found.append(metrics.pages_injected)
        elif outcome in metrics.skipped:  # the rewriter's outcomes are named like the reasons
            found.append(metrics.skipped[outcome])
        return tuple(found)

    def count(self, outcome: str, categories: Iterable[str] = ()) -> None:
        self.metrics.tally.add(self.counters(outcome, categories))


class PageResponder:
    """The ``send`` for an HTML response whose body comes in several messages (or none):
    holds its start until it knows what it sends, then streams."""

    __slots__ = (
        "_categories", "_decoder", "_encoder", "_held", "_injector", "_mode", "_out", "_page",
        "_rewriter", "_send", "_start",
    )  # fmt: skip

    def __init__(self, injector: Injector, page: Page, start: Message, send: Send) -> None:
        self._injector = injector
        self._page = page
        self._start = start
        self._send = send
        self._mode: Mode = "holding"
        self._held: list[bytes] = []  # the app's chunks, while holding
        # Set up by the first of several body messages (most pages come in one):
        self._out: list[bytes]  # the held chunks, rewritten (decoded)
        self._categories: list[str]
        self._decoder: Decoder
        self._rewriter: HtmlRewriter | None = None
        self._encoder: Encoder

    async def __call__(self, message: Message) -> None:
        if message["type"] != "http.response.body":
            await self._other(message)
            return
        mode = self._mode
        if mode == "passing":
            await self._send(message)
            return
        if mode == "done":
            return  # the response was ended early: the rest of a corrupt stream is dropped
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        if mode == "holding":
            await self._hold(body, more)
        else:
            await self._stream(body, more)

    def close(self) -> Awaitable[None] | None:
        """The app returned: if it never ended its body, send what it sent, untouched (the
        awaitable to do it; None when the response is complete)."""
        if self._mode == "holding":
            return self._pass_through(more=True)
        return None

    async def _hold(self, body: bytes, more: bool) -> None:
        page = self._page
        if self._rewriter is None:
            self._out = []
            self._categories = []
            self._decoder = decoder(page.coding)
            self._rewriter = self._injector._rewriter(page, self._categories)
        rewriter = self._rewriter
        self._held.append(body)
        try:
            for piece in self._decoder.decode(body):
                self._out.append(rewriter.feed(piece))
            if not more:
                self._decoder.finish()
                self._out.append(rewriter.finish())
        except DecodeError:
            self._injector.count("decode_error")
            await self._pass_through(more)
            return
        except Exception:
            logger.exception("could not rewrite an HTML page; sending it as it is")
            self._injector.count("error")
            await self._pass_through(more)
            return
        if more and not rewriter.settled:
            return
        inserted = rewriter.outcome == INSERTED
        if not inserted and not self._categories and (not more or page.trackers is None):
            self._injector.count(rewriter.outcome)
            await self._pass_through(more)
            return
        # From here on the page is rewritten (a tracker scan may still change what follows).
        self._encoder = encoder(page.coding, like=self._decoder)
        data = self._encoder.encode(b"".join(self._out))
        data += self._encoder.flush() if more else self._encoder.finish()
        self._held = []
        self._out = []
        await self._send(self._page.rewritten_start(self._start, None if more else len(data)))
        await self._send({"type": "http.response.body", "body": data, "more_body": more})
        self._mode = "streaming" if more else "done"
        if not more:
            self._finished()

    async def _stream(self, body: bytes, more: bool) -> None:
        decoding, rewriter, encoding = self._decoder, self._rewriter, self._encoder
        assert rewriter is not None
        parts: list[bytes] = []
        try:
            for piece in decoding.decode(body):
                parts.append(encoding.encode(rewriter.feed(piece)))
            if more:
                parts.append(encoding.flush())
            else:
                decoding.finish()
                parts.append(encoding.encode(rewriter.finish()))
                parts.append(encoding.finish())
        except Exception as error:
            # Rewritten bytes are out: end with what was valid rather than send garbage, and
            # without the coding's end, so the client sees the page cut short.
            reason = "decode_error" if isinstance(error, DecodeError) else "error"
            if reason == "error":
                logger.exception("could not rewrite an HTML page; ending it early")
            self._injector.metrics.tally.add(self._injector.metrics.skipped[reason])
            parts.append(self._end_early(rewriter, encoding))
            more = False
        data = b"".join(parts)
        if data or not more:
            await self._send({"type": "http.response.body", "body": data, "more_body": more})
        if not more:
            self._mode = "done"
            self._finished()

    @staticmethod
    def _end_early(rewriter: HtmlRewriter, encoding: Encoder) -> bytes:
        """The last valid bytes, flushed but not finished: a complete stream would hide that
        the app's was cut short or corrupt (the client sees it as without the gateway)."""
        try:
            rest = rewriter.finish()
        except Exception:
            rest = b""
        return encoding.encode(rest) + encoding.flush()

    def _finished(self) -> None:
        assert self._rewriter is not None
        self._injector.count(self._rewriter.outcome, self._categories)

    async def _pass_through(self, more: bool) -> None:
        """Send the start and the held chunks exactly as the app sent them."""
        held = self._held
        self._held = []
        self._mode = "passing" if more else "done"
        await self._send(self._page.passed_start(self._start))
        for index, chunk in enumerate(held):
            last = index == len(held) - 1
            await self._send(
                {"type": "http.response.body", "body": chunk, "more_body": more or not last}
            )

    async def _other(self, message: Message) -> None:
        """A zero-copy send (nothing to rewrite), trailers or an extension's message."""
        if self._mode == "holding":
            if message["type"] in ("http.response.pathsend", "http.response.zerocopysend"):
                self._injector.metrics.tally.add(self._injector.metrics.skipped["pathsend"])
            await self._pass_through(more=True)
        await self._send(message)


def rewritten_headers(
    headers: Iterable[Sequence[bytes]], content_length: int | None
) -> list[Header]:
    """The app's headers for a rewritten page: validators dropped, ``Vary: Cookie``,
    ``Cache-Control`` made ``private`` (``private_cache``), and the new ``Content-Length``
    when it is known."""
    out: list[Header] = []
    varies: list[int] = []
    caching: list[int] = []
    for raw_name, value in headers:
        name = raw_name.lower()
        if name in _DROPPED:
            continue
        if name == b"vary":
            varies.append(len(out))
        elif name == b"cache-control":
            caching.append(len(out))
        out.append((raw_name, value))
    if not varies:
        out.append((b"vary", b"Cookie"))
    elif all(with_cookie(out[at][1]) != out[at][1] for at in varies):  # none names Cookie yet
        name, value = out[varies[0]]
        out[varies[0]] = (name, with_cookie(value))
    private_cache(out, caching)
    if content_length is not None:
        out.append((b"content-length", str(content_length).encode("ascii")))
    return out


def private_cache(headers: list[Header], at: list[int]) -> None:
    """Keep shared caches from storing a page made for one visitor's consent: ``Vary:
    Cookie`` says it, but some CDNs ignore ``Vary``. Unless the app already said
    ``private``, ``no-store`` or ``no-cache`` for the whole response (a shared cache then asks
    again every time, and the page has no validators left), ``public`` and ``s-maxage`` go and
    ``private`` comes first; ``max-age`` and the rest stay for the browser."""
    directives = [
        [part.strip() for part in headers[index][1].split(b",") if part.strip()] for index in at
    ]
    # Unqualified only: private="Set-Cookie" or no-cache="Set-Cookie" still let a shared
    # cache store and reuse the page itself.
    whole = {part.lower() for parts in directives for part in parts if b"=" not in part}
    if whole & {b"private", b"no-store", b"no-cache"}:
        return
    if not at:
        headers.append((b"cache-control", b"private"))
        return
    for number, (index, parts) in enumerate(zip(at, directives, strict=True)):
        kept = [p for p in parts if p.split(b"=", 1)[0].strip().lower() not in _SHARED_ONLY]
        if number == 0:
            kept.insert(0, b"private")
        headers[index] = (headers[index][0], b", ".join(kept))
    for index in reversed(at[1:]):  # an emptied second header would say nothing
        if not headers[index][1]:
            del headers[index]


def reads_origin(headers: Iterable[Sequence[bytes]]) -> bool:
    """Whether a page's decision depends on the request's scheme and host: only a
    Content-Security-Policy (enforced or report-only) compares them."""
    return any(name.lower().startswith(b"content-security-policy") for name, _ in headers)


def _charset(parameters: str) -> str:
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'").lower()
    return ""
