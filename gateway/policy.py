"""The decisions the gateway makes for every request, as small pure-ish methods.

``ConsentPolicy`` is built once from the settings (rules compiled, tables loaded, keys set)
and then answers two questions per request: what is this visitor's consent state, and may
this cookie pass. The ASGI plumbing in ``middleware.py`` and the API in ``api.py`` only
call it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from gateway.agents import AgentClassifier
from gateway.consent import (
    MAX_COOKIE_VALUE_LENGTH,
    Category,
    ConsentCookieCodec,
    ConsentState,
    Decision,
    Regime,
    Source,
)
from gateway.declaration import SeenRules
from gateway.jurisdiction import CountryResolver, RegionTable, default_grants, gpc_enabled
from gateway.memo import Memo
from gateway.rules import Classifier, CookieRule, MatchKind, load_site_rule_file
from gateway.settings import Settings
from gateway.unknown import UnknownCookieLog

SECONDS_PER_DAY = 86_400
HOST_PREFIX = "__Host-"
STATE_CACHE_SIZE = 10_000
STATE_CACHE_BYTES = 2 * 1024 * 1024
# A key with more consent cookie bytes than four valid cookies hold is worked out every time.
STATE_MAX_KEY = 4 * MAX_COOKIE_VALUE_LENGTH


def site_rules(settings: Settings) -> list[CookieRule]:
    """The site's own rules: ``cookies`` entries first, then each of ``rule_files``.

    An entry the operator wrote into the settings may make a built-in essential cookie
    non-essential without saying ``override = true``; a rule file's rule may not.
    """
    rules = [
        CookieRule.from_mapping(rule, vendor=None, docs=None, origin="site", override=True)
        for rule in settings.cookies
    ]
    for path in settings.rule_files:
        rules.extend(load_site_rule_file(path))
    return rules


def most_restrictive(decisions: Sequence[Decision]) -> Decision:
    """Several valid consent cookies as one decision: what all of them grant, under the id
    and time of the one granting least (the latest of equals). Another subdomain, or a
    cookie set for a narrower path, may have planted an "accept all" beside the visitor's
    own refusal: it can only ever narrow the choice."""
    least = min(decisions, key=lambda d: (len(d.granted), -d.decided_at.timestamp()))
    granted = frozenset.intersection(*(decision.granted for decision in decisions))
    return replace(least, granted=granted)


class ConsentPolicy:
    """Consent state per visitor and the verdict per cookie name."""

    def __init__(
        self,
        settings: Settings,
        *,
        classifier: Classifier | None = None,
        regions: RegionTable | None = None,
        agents: AgentClassifier | None = None,
        on_unknown: Callable[[], None] | None = None,
    ) -> None:
        if not settings.secret:
            raise ValueError(
                "the consent cookie needs a signing secret: set `secret` in the settings "
                "or CONSENT_GATEWAY_SECRET"
            )
        self.settings = settings
        self.codec = ConsentCookieCodec(
            settings.secret, settings.cookie_lifetime_days * SECONDS_PER_DAY
        )
        own_cookie = CookieRule.from_mapping(
            {
                "name": settings.cookie_name,
                "match": MatchKind.EXACT.value,
                "category": Category.ESSENTIAL.value,
                "retention": f"{settings.cookie_lifetime_days} days",
                "purpose": "Remembers the visitor's consent choices.",
            },
            vendor="consent-gateway",
            docs=None,
            origin="gateway",
        )
        self.classifier = classifier or Classifier.default([own_cookie, *site_rules(settings)])
        # Both names are always read: a browser keeps the other one after the setting changes.
        self.consent_cookie_names = (settings.cookie_name, HOST_PREFIX + settings.cookie_name)
        self.regions = regions or RegionTable.load()
        self.resolver = CountryResolver(
            country_header=settings.country_header,
            subdivision_header=settings.subdivision_header,
            geoip_database=settings.geoip_database,
        )
        self.agents = agents or AgentClassifier.load()
        self.unknown_log = UnknownCookieLog()
        self.seen_rules = SeenRules()  # for the cookie declaration (gateway/declaration.py)
        self._states: Memo[tuple[object, ...], tuple[ConsentState, bool, float]] = Memo(
            STATE_CACHE_SIZE, STATE_CACHE_BYTES, STATE_MAX_KEY
        )
        self._on_unknown = on_unknown
        unknown = settings.unknown_cookies
        self._unknown_category: Category | None = (
            Category.ESSENTIAL if unknown == "allow" else None if unknown == "deny" else unknown
        )

    def state(
        self,
        consent_cookies: tuple[str, ...],
        headers: Mapping[bytes, bytes],
        client_ip: str | None,
        bot: bool,
    ) -> tuple[ConsentState, bool, float]:
        """The visitor's consent state, whether a consent cookie failed verification, and
        until when (a Unix time) the state holds.

        ``headers`` holds the request headers by lower-case name (the policy reads
        ``Sec-GPC`` and the country headers); ``bot`` says whether the client is a bot.
        Many visitors share one consent cookie value and place, so the answer is remembered
        per inputs until the decision expires.
        """
        gpc = gpc_enabled(headers.get(b"sec-gpc"))
        place = self.resolver.inputs(headers, client_ip)
        key = (consent_cookies, place, gpc, bot)
        cached = self._states.table.get(key)
        if cached is not None and cached[2] >= time.time():
            return cached
        country, subdivision = self.resolver.resolve(headers, client_ip)
        regime = self.regions.regime_for(country, subdivision) or self.settings.default_regime
        version = self.settings.policy_version
        decisions = [self.codec.decode(value, version) for value in consent_cookies]
        valid = [decision for decision in decisions if decision is not None]
        invalid = not valid and bool(consent_cookies)
        if valid:
            state = self.decided_state(
                most_restrictive(valid), regime, country, subdivision, gpc, bot
            )
            first_expiry = min(decision.decided_at.timestamp() for decision in valid)
            valid_until = first_expiry + self.codec.max_age_seconds
        else:
            granted, source = default_grants(regime, gpc)
            state = ConsentState(
                granted=granted,
                decided=False,
                source=source,
                policy_version=self.settings.policy_version,
                regime=regime,
                country=country,
                subdivision=subdivision,
                gpc=gpc,
                bot=bot,
            )
            valid_until = math.inf
        size = sum(map(len, consent_cookies))
        size += sum(len(part) for part in place if isinstance(part, bytes | str))
        return self._states.put(key, (state, invalid, valid_until), size)

    def consent_cookie_name(self, secure: bool) -> str:
        """The name a choice is saved under: with ``cookie_host_prefix``, ``__Host-`` and the
        name over HTTPS; over plain HTTP (local development), where browsers refuse such a
        cookie, the name alone."""
        prefixed = secure and self.settings.cookie_host_prefix
        return self.consent_cookie_names[1] if prefixed else self.consent_cookie_names[0]

    def decided_state(
        self,
        decision: Decision,
        regime: Regime,
        country: str | None,
        subdivision: str | None,
        gpc: bool,
        bot: bool,
    ) -> ConsentState:
        """The state after the visitor's own choice, which overrides the regime default."""
        return ConsentState(
            granted=decision.granted,
            decided=True,
            source=Source.USER,
            policy_version=decision.policy_version,
            regime=regime,
            consent_id=decision.consent_id,
            decided_at=decision.decided_at,
            country=country,
            subdivision=subdivision,
            gpc=gpc,
            bot=bot,
        )

    def classify(self, name: str, shown_by: str | None = None) -> tuple[Category | None, bool]:
        """The category of cookie ``name`` (``None``: it may never pass), and whether it is
        unknown (no rule classifies it, so ``unknown_cookies`` decided). ``shown_by`` notes
        its rule for the declaration: ``declaration.SITE`` when the site set the cookie,
        else the network of the visitor whose browser sent it."""
        rule = self.classifier.classify(name)
        if rule is None:
            return self._unknown_category, True
        if shown_by is not None:
            self.seen_rules.note(rule, shown_by)
        return rule.category, False

    def category_of(self, name: str) -> Category | None:
        """The category of cookie ``name``; ``None`` means it may never pass."""
        return self.classify(name)[0]

    def note_unknown(self, name: str) -> None:
        """Count an unclassified cookie seen, for ``consent-gateway scan`` and the metric."""
        self.unknown_log.note(name)
        if self._on_unknown is not None:
            self._on_unknown()
