"""The admin page's one page: the figures gathered from the store, this worker's metrics
and the analytics forwarder, put into the template (``pages``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

from gateway.admin import pages
from gateway.admin.classify import VENDOR
from gateway.admin.daily import SHOWN, SKIPPED, DailyCounts
from gateway.analytics.collect import Collector
from gateway.cookies.policy import CookiePolicy
from gateway.endpoint import ClientError
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.store.handle import StoreHandle

UNKNOWN_LISTED = 200
logger = logging.getLogger("consent_gateway")


class Dashboard:
    """Builds the page; holds nothing per request."""

    def __init__(
        self,
        settings: Settings,
        templates: pages.Templates,
        *,
        store: StoreHandle,
        metrics: Metrics,
        cookies: CookiePolicy,
        daily: DailyCounts,
        collector: Collector | None,
        write_pending: Callable[[], Awaitable[None]] | None,
        rules_file: Path,
    ) -> None:
        self.settings = settings
        self.templates = templates
        self.store = store
        self.metrics = metrics
        self.cookies = cookies
        self.daily = daily
        self.collector = collector
        self.write_pending = write_pending  # this worker's batches not written yet
        self.rules_file = rules_file
        self.base = settings.api_prefix + "/admin"

    async def render(self, days: int, consent_id: str, classified: str, csrf: str | None) -> str:
        """The whole page for the last ``days`` days; ``csrf``: the session's form token
        (None for a bearer token, whose requests need none)."""
        texts = self.templates.texts
        today = datetime.now(UTC).date()
        since = today - timedelta(days=days - 1)
        # This worker's counts not written yet go first, so the page is current.
        await self.daily.flush()
        if self.write_pending is not None:
            await self.write_pending()
        since_time = datetime(since.year, since.month, since.day, tzinfo=UTC)
        try:
            data = await self.store.call(
                lambda store: (
                    store.decision_counts(since_time),
                    store.daily_counts(SHOWN, since.isoformat()),
                    store.daily_counts(SKIPPED, since.isoformat()),
                    store.unknown_cookies(UNKNOWN_LISTED),
                    store.consent_history(consent_id) if consent_id else None,
                )
            )
        except Exception:
            logger.exception("admin: could not read the store")
            raise ClientError(503, "the database did not answer; see the log") from None
        decisions, shown, skipped, unknown, records = data
        series = self.templates.series()
        found = pages.tallies(decisions, shown)
        charts = texts["charts"]
        if found.by_day:
            day_groups = [
                (since + timedelta(days=n)).isoformat() for n in range((today - since).days + 1)
            ]
            by_day = pages.chart(
                "by-day", charts["by_day"], day_groups, found.by_day, series, "day"
            )
            by_regime = pages.chart(
                "by-regime",
                charts["by_regime"],
                sorted(found.by_regime),
                found.by_regime,
                series,
                "regime",
            )
            countries = pages.top_groups(found.by_country, pages.TOP_COUNTRIES)
            by_country = pages.chart(
                "by-country", charts["by_country"], countries, found.by_country, series, "country"
            )
            by_version = pages.chart(
                "by-version",
                charts["by_version"],
                sorted(found.by_version),
                found.by_version,
                series,
                "policy version",
            )
        else:
            by_day = f"<p>{escape(texts['empty']['choices'])}</p>"
            by_regime = by_country = by_version = ""
        categories = {}
        for cookie in unknown:
            rule = self.cookies.classifier.classify(cookie.name)
            categories[cookie.name] = rule.category.value if rule is not None else None
        flash = ""
        done = self.cookies.classifier.classify(classified) if classified else None
        if done is not None and done.vendor == VENDOR:  # only what this page classified
            flash = (
                f'<p class="flash" role="status">Classified <code>{escape(classified)}</code>'
                f" as {done.category.value}.</p>"
            )
        logout = (
            f'<form class="inline" method="post" action="{self.base}/logout">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
            '<button type="submit" class="quiet">Sign out</button></form>'
            if csrf is not None
            else ""
        )
        unknown_policy = str(self.settings.unknown_cookies)
        return self.templates.page.substitute(
            base=self.base,
            logout=logout,
            flash=flash,
            since=since.isoformat(),
            today=today.isoformat(),
            day_options=pages.day_options(days),
            legend=pages.legend(series) if found.by_day else "",
            by_day=by_day,
            by_regime=by_regime,
            by_country=by_country,
            by_version=by_version,
            unknown_policy=escape(unknown_policy),
            rules_file=escape(str(self.rules_file)),
            unknown=pages.unknown_table(
                unknown, categories, self.base, csrf, texts["empty"]["unknown"]
            ),
            pid=os.getpid(),
            outbox=pages.outbox_table(await self._providers(), texts["empty"]["outbox"]),
            skipped=pages.skipped_table(skipped, texts["skip_reasons"], texts["empty"]["skipped"]),
            consent_id=escape(consent_id),
            records=pages.records_table(records, consent_id, self.base, csrf, texts),
        )

    async def _providers(self) -> list[pages.ProviderFigures]:
        """Each provider's backlog (the store's) and this worker's forwarding figures."""
        collector = self.collector
        if collector is None:
            return []
        names = list(collector.providers)
        try:
            backlogs: list[int | None] = list(
                await self.store.call(lambda store: [store.outbox_count(n) for n in names])
            )
        except Exception:
            logger.exception("admin: could not count the analytics outbox")
            backlogs = [None] * len(names)
        forwarded = _by_label(self.metrics.analytics_forwarded.collect(), "provider")
        dropped: dict[str, dict[str, int]] = {}
        for family in self.metrics.analytics_dropped.collect():
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    reasons = dropped.setdefault(sample.labels["provider"], {})
                    reasons[sample.labels["reason"]] = int(sample.value)
        figures = []
        for name, backlog in zip(names, backlogs, strict=True):
            breaker = collector.forwarder.breakers[name]
            if not collector.forwards:
                state = "forwarded by a separate process"
            elif breaker.is_open:
                state = f"open ({breaker.failures} failed batches)"
            else:
                state = "closed"
            figures.append(
                pages.ProviderFigures(
                    name, backlog, state, forwarded.get(name, 0), dropped.get(name, {})
                )
            )
        return figures


def _by_label(families: Any, label: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for family in families:
        for sample in family.samples:
            if sample.name.endswith("_total"):
                found[sample.labels[label]] = int(sample.value)
    return found
