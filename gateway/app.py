"""``Gateway``: every part of one gateway, built once from its ``Settings``.

The composition root: the middleware, the gateway's own server and the command-line tools
take a ``Gateway`` instead of assembling the parts themselves, so each part is built the
same way wherever it runs, and ``consent-gateway check`` builds exactly what a server runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.admin.daily import DailyCounts
from gateway.admin.routes import AdminEndpoints
from gateway.analytics.collect import Collector
from gateway.api.routes import ConsentAPI
from gateway.consent.codec import ConsentCookieCodec
from gateway.consent.jurisdiction import CountryResolver
from gateway.consent.policy import ConsentPolicy
from gateway.consent.state import ConsentState
from gateway.cookies.enforce import Enforcer
from gateway.cookies.policy import CookiePolicy
from gateway.html.banner import Banner
from gateway.html.inject import Injector
from gateway.html.rewriter import TrackerHook
from gateway.html.trackers import TrackerRules
from gateway.later import LaterWrite
from gateway.memo import Memo
from gateway.metrics import Metrics, MetricsListener
from gateway.proxies import TrustedProxies
from gateway.reload import Reloader
from gateway.ruleset import RuleSet, rule_sources
from gateway.settings import Settings, listen_address
from gateway.store import Store
from gateway.store.handle import StoreHandle
from gateway.store.retention import Retention
from gateway.watch import FileWatch

SECONDS_PER_DAY = 86_400
logger = logging.getLogger("consent_gateway")


class Gateway:
    """The parts of one gateway and their life cycle: ``start`` when the server starts,
    ``aclose`` when it stops (pending counts written, the analytics outbox drained, the
    store closed).

    ``store`` replaces the one ``database_url`` names and ``trackers`` the tracker rules of
    ``rules/trackers.toml`` (both for tests and embedders).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        trackers: TrackerHook | None = None,
    ) -> None:
        if not settings.secret:
            raise ValueError(
                "the consent cookie needs a signing secret: set `secret` in the settings "
                "or CONSENT_GATEWAY_SECRET"
            )
        self.settings = settings
        self.metrics = Metrics()
        self.metrics_listener = (
            MetricsListener(self.metrics, *listen_address(settings.metrics_listen))
            if settings.metrics_listen
            else None
        )
        self.proxies = TrustedProxies(settings.trusted_proxies, settings.proxy_headers)
        # The rule files as they are before they are read: a change from now on is seen.
        self._own_trackers = trackers is None and settings.block_trackers != "never"
        rules_watch = FileWatch(lambda: rule_sources(self.settings, trackers=self._own_trackers))
        rules = RuleSet.load(settings, trackers=self._own_trackers, geoip=False)
        self.agents = rules.agents
        self.consent = ConsentPolicy(
            ConsentCookieCodec(settings.secret, settings.cookie_lifetime_days * SECONDS_PER_DAY),
            rules.regions,
            CountryResolver(
                country_header=settings.country_header,
                subdivision_header=settings.subdivision_header,
                geoip_database=settings.geoip_database,
            ),
            cookie_name=settings.cookie_name,
            policy_version=settings.policy_version,
            default_regime=settings.default_regime,
            host_prefix=settings.cookie_host_prefix,
            source=rules.source,
        )
        self.cookies = CookiePolicy(
            settings, classifier=rules.classifier, on_unknown=self.metrics.unknown_cookie
        )
        self.store = StoreHandle(settings.database_url, store)
        self.retention = Retention(
            self.store,
            settings.record_retention_days,
            purged=self.metrics.records_removed.labels("purged").inc,
            failed=self.metrics.store_errors.labels("purge_records").inc,
        )
        self.banner = Banner.load(settings.api_prefix, settings=settings)
        self.enforcer = Enforcer(self.consent, self.cookies, self.agents, settings, self.metrics)
        if rules.trackers is not None:
            trackers = rules.trackers
        self.injector = Injector(
            self.banner,
            self.metrics,
            insert=settings.banner_inserted,
            block_trackers=settings.block_trackers,
            trackers=trackers,
            api_prefix=settings.api_prefix,
            crawlers=self.agents.crawlers,
        )
        self.collector = (
            Collector(
                settings.analytics,
                allowed_origins=settings.allowed_origins,
                agents=self.agents,
                metrics=self.metrics,
                store=self.store,
            )
            if settings.analytics.providers()
            else None
        )
        # The admin page and its daily counts exist only with an admin_token.
        self.daily = DailyCounts(self.store, self.metrics) if settings.admin_token else None
        self.admin = (
            AdminEndpoints(
                settings,
                store=self.store,
                metrics=self.metrics,
                cookies=self.cookies,
                reload_rules=lambda reason: self.rules.reload_async(reason),
                daily=self.daily,
                collector=self.collector,
                write_pending=self._flush_unknown,
            )
            if self.daily is not None
            else None
        )
        self.api = ConsentAPI(
            settings,
            self.consent,
            self.cookies,
            self.agents,
            self.metrics,
            self.store,
            self.banner,
            collect=self.collector,
            admin=self.admin,
        )
        # What ``<api_prefix>/ready`` checks, by name: the store; ``serve`` adds its upstreams.
        self.readiness_checks = self.api.readiness_checks
        if settings.metrics or settings.metrics_listen:
            self.metrics.watch_memos(lambda: self.memos)
        self._unknown_writes = LaterWrite(
            self._flush_unknown, lambda: self.cookies.unknown_log.flush_interval
        )
        self.cookies.unknown_log.on_pending = self._unknown_writes.soon
        # Called with each rule set put in place (the access log's redaction lists).
        self.rules_listeners: list[Callable[[RuleSet], None]] = []
        # ``consent-gateway serve`` sets it: SIGHUP reads the rules again (``start``).
        self.reload_on_hangup = False
        self.rules = Reloader(
            rules_watch,
            settings.rules_reload_interval,
            self.load_rules,
            self.apply_rules,
            self.metrics,
        )
        self.metrics.rules_in_use(rules.counts())

    @property
    def memos(self) -> dict[str, list[Memo[Any, Any]]]:
        """Every memo of the gateway by name (the enforcer's response plans are one table
        per grant under one name)."""
        found: list[Memo[Any, Any]] = [
            *self.agents.memos,
            self.consent.states,
            *([self.consent.source.choices] if self.consent.source is not None else []),
            self.cookies.classifier.memo,
            *self.enforcer.memos,
            *self.injector.memos,
        ]
        if isinstance(self.injector.trackers, TrackerRules):
            found.append(self.injector.trackers.memo)
        if self.collector is not None:
            found.extend(self.collector.redactor.memos)
        by_name: dict[str, list[Memo[Any, Any]]] = {}
        for memo in found:
            by_name.setdefault(memo.name, []).append(memo)
        return by_name

    def clear_memos(self) -> None:
        """Forget every remembered answer: what they were worked out from (rules, settings)
        changed. Later requests work them out again."""
        for memos in self.memos.values():
            for memo in memos:
                memo.clear()
        self.enforcer.forget_last_plans()

    def reload_rules(self, reason: str = "reload_rules()") -> None:
        """Read every rule file again (``RuleSet``: cookie, tracker, bot, region, analytics
        rules, the CMP mappings, the GeoIP database) and put the rules in place
        (``apply_rules``); a file that no longer reads raises ``ValueError`` (also logged and
        counted) and leaves the rules as they were. ``reason`` goes into the log line. The
        watcher and SIGHUP call ``rules.reload_async``, which reads the files in a thread."""
        self.rules.reload(reason)

    def load_rules(self) -> RuleSet:
        """The rules as the files say now, not yet in place: safe in a thread."""
        return RuleSet.load(self.settings, trackers=self._own_trackers, geoip=True)

    def apply_rules(self, rules: RuleSet) -> None:
        """Put ``rules`` in place in every part that uses them, in one step on the event
        loop (each part keeps its memo, emptied), then ``clear_memos``."""
        self.cookies.classifier.adopt(rules.classifier)
        self.agents.adopt(rules.agents)
        self.injector.crawlers = self.agents.crawlers
        self.consent.regions = rules.regions
        self.consent.use_source(rules.source)
        if rules.trackers is not None and isinstance(self.injector.trackers, TrackerRules):
            self.injector.trackers.adopt(rules.trackers)
        if rules.geoip is not None:
            self.consent.resolver.use_database(rules.geoip)
        if self.collector is not None:
            self.collector.redactor.rules = rules.redaction
        for listener in self.rules_listeners:
            listener(rules)
        self.clear_memos()

    async def start(self) -> None:
        """Start the metrics listener (with ``metrics_listen``), the purge of old consent
        records and forwarding analytics (when a provider is configured)."""
        if self.metrics_listener is not None:
            await self.metrics_listener.start()
        self.retention.start()
        if self.collector is not None:
            await self.collector.start()
        if self.daily is not None:
            self.daily.start()
        self.rules.start(hangup=self.reload_on_hangup)

    async def aclose(self) -> None:
        """Write what is pending and close the store and the metrics listener."""
        await self.rules.aclose()
        if self.collector is not None:
            await self.collector.aclose()
        if self.metrics_listener is not None:
            await self.metrics_listener.aclose()
        await self._unknown_writes.close()
        await self.api.seen_writes.close()
        if self.daily is not None:
            await self.daily.aclose()
        await self.retention.aclose()
        self.store.close()

    def banner_shown(self, state: ConsentState, request_headers: Mapping[bytes, bytes]) -> None:
        """A page goes out with the banner to a visitor who has not chosen: counted for the
        admin page when it opens a visit (a page reached from outside the site, or from a
        browser that does not say), so "no choice" counts visits, not page views."""
        if self.daily is not None and request_headers.get(b"sec-fetch-site") != b"same-origin":
            self.daily.shown(state.regime.value, state.country, state.policy_version)

    async def _flush_unknown(self) -> None:
        counts, errors = self.cookies.unknown_log.take()
        if not counts:
            return
        try:
            await self.store.call(
                lambda store: store.count_unknown_cookies(counts, datetime.now(UTC), errors)
            )
        except Exception:
            logger.exception("could not write unknown cookie counts")
            self.metrics.store_errors.labels("count_unknown_cookies").inc()
