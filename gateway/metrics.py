"""Prometheus collectors for one gateway.

Each gateway owns a registry, so two middlewares in one process (tests, several apps) never
collide, and the children of fixed label sets are bound once here instead of on every request.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from gateway.consent.state import Category, Regime
from gateway.memo import Memo

DIRECTIONS = ("request", "response", "expired")
SKIP_REASONS = (
    "csp",  # the page's Content-Security-Policy would refuse the banner
    "lookahead",  # no place for it within the look-ahead
    "no_place",  # the page ends inside a comment, a tag or raw text: no safe place at the end
    "encoding",  # a Content-Encoding the gateway cannot decode
    "decode_error",  # a corrupt or cut-short compressed body
    "charset",  # UTF-16 or ISO-2022: bytes that are not ASCII markup
    "pathsend",  # a zero-copy file send: no body passes through the gateway
    "not_document",  # fetch() or XHR (Sec-Fetch-Dest): a fragment, not a page
    "bot",  # a crawler (rules/bots.toml): nobody there to answer the banner
    "error",  # the rewriter failed; the page went out as the app sent it
)
RELOAD_RESULTS = ("ok", "error")
CHOICES = ("accept_all", "reject_all", "custom", "withdraw")
UNKNOWN_CATEGORY = "unknown"

CONTENT_TYPE = CONTENT_TYPE_LATEST
MAX_HEAD_BYTES = 8192  # a scrape's request line and headers
HEAD_SECONDS = 10.0  # how long a connection may take to send them
logger = logging.getLogger("consent_gateway")


class Tally:
    """Counts added on the request path as plain integers, handed to their Prometheus
    children whenever the registry is collected (it is registered first, so every scrape and
    ``get_sample_value`` sees them): a child's ``inc`` takes a lock and three calls, about
    half a microsecond, a dict update a tenth of that. Only the event loop's thread adds, so
    it needs no lock of its own."""

    def __init__(self) -> None:
        self._pending: defaultdict[Any, int] = defaultdict(int)

    def add(self, child: Any, amount: int = 1) -> None:
        """Count ``child``, or each child of a tuple (what a remembered response counts, in
        one dict update: the tuple is expanded when the counts are handed over)."""
        self._pending[child] += amount

    def flush(self) -> None:
        pending, self._pending = self._pending, defaultdict(int)
        for key, amount in list(pending.items()):  # list(): one step under the GIL
            for child in key if type(key) is tuple else (key,):
                child.inc(amount)

    def collect(self) -> list[Any]:
        self.flush()
        return []

    def describe(self) -> list[Any]:
        return []


Memos = Mapping[str, Iterable[Memo[Any, Any]]]


class MemoCollector:
    """``consent_gateway_cache_*``: the counts of the gateway's memos by name, read when
    the registry is collected, so nothing Prometheus runs on the request path. Memos that
    share a name (one table per grant) add up."""

    def __init__(self, memos: Callable[[], Memos]) -> None:
        self._memos = memos  # called at each scrape: a reload may replace a memo's owner

    def collect(self) -> list[Metric]:
        hits, misses, evictions, entries, size = families = self._families()
        for name, memos in sorted(self._memos().items()):
            group = list(memos)
            hits.add_metric([name], sum(memo.hits for memo in group))
            misses.add_metric([name], sum(memo.misses for memo in group))
            evictions.add_metric([name], sum(memo.evictions for memo in group))
            entries.add_metric([name], sum(len(memo.table) for memo in group))
            size.add_metric([name], sum(memo.size for memo in group))
        return list(families)

    def describe(self) -> list[Metric]:
        return list(self._families())

    def _families(
        self,
    ) -> tuple[
        CounterMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
    ]:
        label = ["cache"]
        return (
            CounterMetricFamily(
                "consent_gateway_cache_hits", "Answers found in a memo.", labels=label
            ),
            CounterMetricFamily(
                "consent_gateway_cache_misses",
                "Answers worked out (not in the memo, or not kept: too large a key).",
                labels=label,
            ),
            CounterMetricFamily(
                "consent_gateway_cache_evictions",
                "Times a memo was emptied because a bound on entries or bytes was reached.",
                labels=label,
            ),
            GaugeMetricFamily(
                "consent_gateway_cache_entries", "Answers a memo holds now.", labels=label
            ),
            GaugeMetricFamily(
                "consent_gateway_cache_key_bytes",
                "Bytes of the keys filed in a memo since it was last emptied.",
                labels=label,
            ),
        )


class Metrics:
    """The gateway's counters; docs/metrics.md lists them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.tally = Tally()
        self.registry.register(self.tally)
        self.decisions = Counter(
            "consent_gateway_decisions",
            "Consent decisions saved, by regime and choice.",
            ["regime", "choice"],
            registry=self.registry,
        )
        self.cookies_removed = Counter(
            "consent_gateway_cookies_removed",
            "Cookies removed for lack of consent: from requests, from responses, or expired "
            "in the browser.",
            ["category", "direction"],
            registry=self.registry,
        )
        self.unknown_cookies = Counter(
            "consent_gateway_unknown_cookies",
            "Cookies seen whose name no rule classifies (see `consent-gateway scan`).",
            registry=self.registry,
        )
        self.invalid_consent_cookies = Counter(
            "consent_gateway_invalid_consent_cookies",
            "Consent cookies that were tampered, expired, malformed or signed with an unknown key; "
            "with consent_source, CMP cookies that do not read.",
            registry=self.registry,
        )
        self.bot_requests = Counter(
            "consent_gateway_bot_requests",
            "Requests from bots, by kind (rules/bots.toml).",
            ["kind"],
            registry=self.registry,
        )
        self.store_errors = Counter(
            "consent_gateway_store_errors",
            "Failed writes to the consent store.",
            ["operation"],
            registry=self.registry,
        )
        self.records_removed = Counter(
            "consent_gateway_records_removed",
            "Consent records removed: purged past record_retention_days, or erased by "
            "their visitor.",
            ["reason"],
            registry=self.registry,
        )
        self.pages_injected = Counter(
            "consent_gateway_pages_injected",
            "HTML pages the banner's tags were inserted into.",
            registry=self.registry,
        )
        self.pages_skipped = Counter(
            "consent_gateway_pages_skipped",
            "HTML pages left without the banner, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.trackers_neutralised = Counter(
            "consent_gateway_trackers_neutralised",
            "Tracker tags made inert in HTML pages, by the category they wait for.",
            ["category"],
            registry=self.registry,
        )
        self.skipped = {reason: self.pages_skipped.labels(reason) for reason in SKIP_REASONS}
        self.analytics_hits = Counter(
            "consent_gateway_analytics_hits",
            "Analytics hits received, by provider and decision (consented, cookieless, "
            "no_consent, filtered, bot, bad_request, too_large, invalid_utf8, malformed, "
            "unknown_site, not_found, cross_origin, store_error).",
            ["provider", "decision"],
            registry=self.registry,
        )
        self.analytics_redactions = Counter(
            "consent_gateway_analytics_redactions",
            "Fields removed or rewritten in analytics hits, by provider and kind.",
            ["provider", "kind"],
            registry=self.registry,
        )
        self.analytics_forwarded = Counter(
            "consent_gateway_analytics_forwarded",
            "Analytics hits the provider accepted.",
            ["provider"],
            registry=self.registry,
        )
        self.analytics_retries = Counter(
            "consent_gateway_analytics_retries",
            "Analytics hits that failed to send and wait for another try, by reason.",
            ["provider", "reason"],
            registry=self.registry,
        )
        self.analytics_dropped = Counter(
            "consent_gateway_analytics_dropped",
            "Analytics hits given up after they were accepted: expired, outbox_full, or "
            "rejected by the provider.",
            ["provider", "reason"],
            registry=self.registry,
        )
        self.analytics_outbox = Gauge(
            "consent_gateway_analytics_outbox_hits",
            "Hits waiting in the outbox (all providers, all replicas), at most; exact when "
            "the size limit is near.",
            registry=self.registry,
        )
        self.analytics_breaker_open = Gauge(
            "consent_gateway_analytics_breaker_open",
            "1 while the circuit breaker of a provider is open.",
            ["provider"],
            registry=self.registry,
        )
        self.rules_reloads = Counter(
            "consent_gateway_rules_reloads",
            "Times the rules were read again while running (a changed file, SIGHUP, a call), "
            "by result: ok, or error (the previous rules stay in use).",
            ["result"],
            registry=self.registry,
        )
        self.rules_loaded = Gauge(
            "consent_gateway_rules",
            "Rules in use, by kind: cookie (site_cookie of them the site's own), tracker "
            "(vendors), bot_token, region, analytics_name.",
            ["kind"],
            registry=self.registry,
        )
        self.rules_stale = Gauge(
            "consent_gateway_rules_stale",
            "1 while the rule files as they are now could not be loaded: the gateway serves "
            "the rules it loaded before.",
            registry=self.registry,
        )
        for result in RELOAD_RESULTS:
            self.rules_reloads.labels(result)
        categories = [c.value for c in Category] + [UNKNOWN_CATEGORY]
        self.neutralised = {
            category: self.trackers_neutralised.labels(category) for category in categories
        }
        self._removed = {
            (category, direction): self.cookies_removed.labels(category, direction)
            for category in categories
            for direction in DIRECTIONS
        }
        for regime in Regime:
            for choice in CHOICES:
                self.decisions.labels(regime.value, choice)

        self._bots: dict[str, Any] = {}

    def bot(self, kind: str) -> None:
        """Count a bot request; the label child is bound once per kind."""
        child = self._bots.get(kind)
        if child is None:
            child = self._bots[kind] = self.bot_requests.labels(kind)
        self.tally.add(child)

    def removed(self, category: str, direction: str, count: int = 1) -> None:
        self.tally.add(self._removed[(category, direction)], count)

    def removed_child(self, category: str, direction: str) -> Any:
        """The child ``removed`` adds to, for callers that remember it."""
        return self._removed[(category, direction)]

    def rules_in_use(self, counts: Mapping[str, int]) -> None:
        """The rule counts of the rules just put in place."""
        for kind, count in counts.items():
            self.rules_loaded.labels(kind).set(count)

    def unknown_cookie(self) -> None:
        self.tally.add(self.unknown_cookies)

    def watch_memos(self, memos: Callable[[], Memos]) -> None:
        """Export the counts of ``memos`` (``MemoCollector``)."""
        self.registry.register(MemoCollector(memos))

    def exposition(self) -> bytes:
        """The text format: what ``MetricsListener`` serves (and, with ``metrics``, the
        API at ``<api_prefix>/metrics``)."""
        return generate_latest(self.registry)


class MetricsListener:
    """The exposition of ``metrics`` at ``/metrics`` on an address of its own (setting
    ``metrics_listen``, ``consent-gateway forward --metrics-port``), kept off the public site.

    Served by the event loop the gateway runs in, one answer per connection, so a scrape
    reads the counters in the thread that writes them (``Tally`` takes no lock; prometheus
    client's ``start_http_server`` would read them from a thread of its own)."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen; an address that cannot be had (another worker holds it) is logged, and
        the site keeps serving."""
        if self._server is not None:
            return
        try:
            self._server = await asyncio.start_server(
                self._answer, self.host, self.port, limit=MAX_HEAD_BYTES
            )
        except OSError as error:
            logger.error("metrics: cannot listen on %s:%d: %s", self.host, self.port, error)
            return
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_SECONDS)
            method, _, rest = head.partition(b" ")
            path = rest.partition(b" ")[0].partition(b"?")[0]
            status, headers, body = b"200 OK", [b"content-type: " + CONTENT_TYPE.encode()], b""
            if path != b"/metrics":
                status, body = b"404 Not Found", b"the metrics are at /metrics\n"
                headers = [b"content-type: text/plain; charset=utf-8"]
            elif method not in (b"GET", b"HEAD"):
                status, body = b"405 Method Not Allowed", b""
                headers = [b"allow: GET, HEAD"]
            else:
                body = self.metrics.exposition()
            headers.append(b"content-length: %d" % len(body))
            head_out = b"HTTP/1.1 " + status + b"\r\n" + b"\r\n".join(headers)
            writer.write(head_out + b"\r\nconnection: close\r\n\r\n")
            if method != b"HEAD":
                writer.write(body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a client that went away or sent no request: nothing to answer
        finally:
            writer.close()
