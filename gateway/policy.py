"""The decisions the gateway makes for every request, as small pure-ish methods.

``ConsentPolicy`` is built once from the settings (rules compiled, tables loaded, keys set)
and then answers two questions per request: what is this visitor's consent state, and may
this cookie pass. The ASGI plumbing in ``middleware.py`` and the API in ``api.py`` only
call it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway.agents import AgentClassifier
from gateway.consent import (
    Category,
    ConsentCookieCodec,
    ConsentState,
    Decision,
    Regime,
    Source,
)
from gateway.jurisdiction import CountryResolver, RegionTable, default_grants, gpc_enabled
from gateway.rules import Classifier, CookieRule, MatchKind, load_site_rule_file
from gateway.settings import Settings
from gateway.unknown import UnknownCookieLog

SECONDS_PER_DAY = 86_400
STATE_CACHE_SIZE = 10_000


@dataclass(slots=True)
class RequestFacts:
    """What the gateway reads from a request to decide consent."""

    consent_cookies: tuple[str, ...]
    headers: Mapping[bytes, bytes]
    client_ip: str | None
    user_agent: str


def site_rules(settings: Settings) -> list[CookieRule]:
    """The site's own rules: ``cookies`` entries first, then each of ``rule_files``."""
    rules = [
        CookieRule.from_mapping(rule, vendor=None, docs=None, origin="site")
        for rule in settings.cookies
    ]
    for path in settings.rule_files:
        rules.extend(load_site_rule_file(path))
    return rules


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
        self.regions = regions or RegionTable.load()
        self.resolver = CountryResolver(
            country_header=settings.country_header,
            subdivision_header=settings.subdivision_header,
            geoip_database=settings.geoip_database,
        )
        self.agents = agents or AgentClassifier.load()
        self.unknown_log = UnknownCookieLog()
        self._states: dict[tuple[object, ...], ConsentState] = {}
        self._on_unknown = on_unknown
        unknown = settings.unknown_cookies
        self._unknown_category: Category | None = (
            Category.ESSENTIAL if unknown == "allow" else None if unknown == "deny" else unknown
        )

    def state(self, facts: RequestFacts) -> tuple[ConsentState, bool]:
        """The visitor's consent state, and whether a consent cookie failed verification."""
        country, subdivision = self.resolver.resolve(facts.headers, facts.client_ip)
        regime = self.regions.regime_for(country, subdivision) or self.settings.default_regime
        gpc = gpc_enabled(facts.headers.get(b"sec-gpc"))
        bot = self.agents.bot_kind(facts.user_agent) is not None
        decision = None
        verified = None
        for value in facts.consent_cookies:
            decision = self.codec.decode(value, self.settings.policy_version)
            if decision is not None:
                verified = value
                break
        invalid = decision is None and bool(facts.consent_cookies)
        # The same visitor asks again and again; building the frozen state is the costly part.
        key = (verified, regime, country, subdivision, gpc, bot)
        state = self._states.get(key)
        if state is None:
            if decision is not None:
                state = self.decided_state(decision, regime, country, subdivision, gpc, bot)
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
            if len(self._states) >= STATE_CACHE_SIZE:
                self._states.clear()
            self._states[key] = state
        return state, invalid

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

    def category_of(self, name: str, *, note_unknown: bool = False) -> Category | None:
        """The category of cookie ``name``; ``None`` means it may never pass.

        ``note_unknown`` counts an unclassified name for ``consent-gateway scan``; callers set
        it once per cookie seen, not on every look-up.
        """
        rule = self.classifier.classify(name)
        if rule is None:
            if note_unknown:
                self.unknown_log.note(name)
                if self._on_unknown is not None:
                    self._on_unknown()
            return self._unknown_category
        return rule.category

    def allows(self, state: ConsentState, name: str) -> bool:
        category = self.category_of(name, note_unknown=True)
        return category is not None and state.allows(category)
