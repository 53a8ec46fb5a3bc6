"""``RuleSet``: every rule the gateway reads from files, loaded together.

The cookie rules (built-in and the site's ``rule_files``), the tracker rules, the bot tokens,
the regions' regimes, the analytics redaction lists, the GeoIP database and, with
``consent_source`` adapters, the CMP mappings (``rules/cmp.toml``, ``tcf.toml``, ``gpp.toml``)
are read and compiled here in one go, with no effect on a running gateway:
``Gateway.apply_rules`` puts a set in place at once (``gateway.reload`` decides when).
Loading touches only its own objects, so it may run in a thread while the event loop serves
requests; a file that does not read fails the whole set, and the rules in place stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import maxminddb

from gateway.analytics.redact import RedactionRules
from gateway.consent.adapters import ConsentSource
from gateway.consent.adapters import build as build_source
from gateway.consent.adapters.base import SiteTable
from gateway.consent.adapters.base import rule_paths as cmp_rule_paths
from gateway.consent.agents import AgentClassifier
from gateway.consent.jurisdiction import RegionTable, open_geoip_database
from gateway.cookies.policy import (
    cmp_cookie_rules,
    consent_cookie_rule,
    site_rule_paths,
    site_rules,
)
from gateway.cookies.rules import Classifier, load_rule_files
from gateway.html.trackers import TrackerRules
from gateway.resources import rules_dir
from gateway.settings import Settings

# ``RuleSet.counts()`` in words, for the log line of a reload.
LABELS = {
    "cookie": "cookie rules",
    "site_cookie": "of them the site's",
    "tracker": "tracker vendors",
    "bot_token": "bot tokens",
    "region": "regions",
    "analytics_name": "analytics names",
}


def consent_source(settings: Settings) -> ConsentSource | None:
    """The adapters ``consent_source`` names, with their ``consent_adapters`` tables over the
    rules files as they are now; ``None`` for the gateway's own cookie."""
    if not isinstance(settings.consent_source, list):
        return None
    site = {
        name: SiteTable(
            table.cookie, table.categories, table.tc_cookie, table.purposes, table.refused_by
        )
        for name, table in settings.consent_adapters.items()
    }
    return build_source(settings.consent_source, site)


def rule_sources(settings: Settings, *, trackers: bool) -> list[Path]:
    """Every file a ``RuleSet`` reads (and the built-in cookie rules' directory, which
    changes when a file is added or removed): what a running gateway watches. ``trackers``:
    whether the tracker rules are the gateway's own (not passed in by an embedder)."""
    base = rules_dir()
    cookies = base / "cookies"
    paths = [cookies, *sorted(cookies.glob("*.toml"))]
    paths += [base / "bots.toml", base / "regions.toml", base / "analytics.toml"]
    if trackers:
        paths.append(base / "trackers.toml")
    if isinstance(settings.consent_source, list):
        paths += cmp_rule_paths(settings.consent_source)
    paths += site_rule_paths(settings)
    if settings.geoip_database is not None:
        paths.append(settings.geoip_database)
    return paths


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The compiled rules of one load; ``trackers`` is ``None`` when the gateway's tracker
    rules are not its own, ``geoip`` when no database was opened."""

    classifier: Classifier
    agents: AgentClassifier
    regions: RegionTable
    trackers: TrackerRules | None
    redaction: RedactionRules
    geoip: maxminddb.Reader | None
    site_cookie_rules: int  # of the classifier's rules, the site's own
    source: ConsentSource | None  # the consent_source adapters, remembering nothing yet

    @classmethod
    def load(cls, settings: Settings, *, trackers: bool, geoip: bool) -> RuleSet:
        """Read and compile every rule; ``ValueError`` names the file that does not read.
        ``geoip``: open ``geoip_database`` too (the gateway opened its own at start)."""
        try:
            own = site_rules(settings)
            builtin = load_rule_files(rules_dir() / "cookies")
            source = consent_source(settings)
            site = [consent_cookie_rule(settings), *own]
            classifier = Classifier(builtin, site)
            if source is not None and (cmp := cmp_cookie_rules(source.cookie_names, classifier)):
                classifier = Classifier(builtin, [site[0], *cmp, *own])
            return cls(
                classifier=classifier,
                agents=AgentClassifier.load(),
                regions=RegionTable.load(),
                trackers=(
                    TrackerRules.load(containers=settings.gtm_containers) if trackers else None
                ),
                redaction=RedactionRules.load(),
                geoip=(
                    open_geoip_database(settings.geoip_database)
                    if geoip and settings.geoip_database is not None
                    else None
                ),
                site_cookie_rules=len(own),
                source=source,
            )
        except OSError as error:  # unreadable: permissions, a directory in a file's place
            problem = f"{error.filename}: cannot read the rules ({error.strerror})"
            raise ValueError(problem) from None

    def counts(self) -> dict[str, int]:
        """How many rules of each kind were loaded (``consent_gateway_rules``)."""
        cookies = self.classifier.rules
        redaction = self.redaction
        found = {
            "cookie": len(cookies),
            "site_cookie": self.site_cookie_rules,
            "bot_token": self.agents.token_count,
            "region": self.regions.size,
            "analytics_name": len(redaction.personal_words)
            + len(redaction.personal_names)
            + len(redaction.click_ids),
        }
        if self.trackers is not None:
            found["tracker"] = len(self.trackers.trackers)
        return found

    def describe(self) -> str:
        """``counts`` in words: "980 cookie rules, 1 of them the site's, 42 tracker ..."."""
        counts = self.counts()
        return ", ".join(
            f"{counts[kind]} {words}" for kind, words in LABELS.items() if kind in counts
        )
