"""The consent state each request gets: the visitor's signed choice, or the default of the
law where the visitor is.

``ConsentPolicy`` is built once (keys set, regions loaded) and then answers per request; many
visitors share one consent cookie value and place, so the answer is remembered per inputs
until the decision expires.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from gateway.consent.adapters import CHOICES_MAX_KEY, ConsentSource, Reading
from gateway.consent.codec import MAX_COOKIE_VALUE_LENGTH, ConsentCookieCodec
from gateway.consent.jurisdiction import (
    CountryResolver,
    RegionTable,
    default_grants,
    gpc_enabled,
)
from gateway.consent.state import ConsentState, Decision, Regime, Source
from gateway.memo import Memo

HOST_PREFIX = "__Host-"
STATE_CACHE_SIZE = 10_000
STATE_CACHE_BYTES = 2 * 1024 * 1024
# A key with more consent cookie bytes than four valid cookies hold is worked out every time.
STATE_MAX_KEY = 4 * MAX_COOKIE_VALUE_LENGTH


def most_restrictive(decisions: Sequence[Decision]) -> Decision:
    """Several valid consent cookies as one decision: what all of them grant, under the id
    and time of the one granting least (the latest of equals). Another subdomain, or a
    cookie set for a narrower path, may have planted an "accept all" beside the visitor's
    own refusal: it can only ever narrow the choice."""
    least = min(decisions, key=lambda d: (len(d.granted), -d.decided_at.timestamp()))
    granted = frozenset.intersection(*(decision.granted for decision in decisions))
    return replace(least, granted=granted)


class ConsentPolicy:
    """The visitor's consent state, from the consent cookies, the place and GPC."""

    def __init__(
        self,
        codec: ConsentCookieCodec,
        regions: RegionTable,
        resolver: CountryResolver,
        *,
        cookie_name: str,
        policy_version: str,
        default_regime: Regime,
        host_prefix: bool = False,
        source: ConsentSource | None = None,
    ) -> None:
        self.codec = codec
        self.regions = regions
        self.resolver = resolver
        self.policy_version = policy_version
        self.default_regime = default_regime
        self.host_prefix = host_prefix
        # Both names are always read: a browser keeps the other one after the setting changes.
        self.consent_cookie_names = (cookie_name, HOST_PREFIX + cookie_name)
        self.source: ConsentSource | None = None
        self.use_source(source)
        max_key = STATE_MAX_KEY if source is None else CHOICES_MAX_KEY
        self.states: Memo[tuple[object, ...], tuple[ConsentState, bool, float]] = Memo(
            "consent_states", STATE_CACHE_SIZE, STATE_CACHE_BYTES, max_key
        )

    def use_source(self, source: ConsentSource | None) -> None:
        """Read the choice through ``source`` from now on (rules read again: a new one,
        remembering nothing), and the cookies it reads; with ``None``, the gateway's own.
        The memo's counts go on from the source it replaces: they are counters."""
        previous = self.source
        if previous is not None and source is not None and previous is not source:
            counts, before = source.choices, previous.choices
            counts.hits += before.hits
            counts.misses += before.misses
            counts.evictions += before.evictions
        # With ``consent_source`` adapters, their cookies are read instead of the gateway's.
        self.source = source
        self.read_cookie_names = frozenset(
            source.cookie_names if source is not None else self.consent_cookie_names
        )

    def cookie_values(self, pieces: Iterable[tuple[str, str]]) -> tuple[str | None, ...]:
        """What ``state`` reads of the request's cookies, as ``(name, "name=value")``
        pieces: the values of the consent cookies, or, with adapters, one value (or
        ``None``) per cookie they read."""
        source = self.source
        if source is None:
            names = self.consent_cookie_names
            return tuple(
                [piece.partition("=")[2].strip(" \t") for n, piece in pieces if n in names]
            )
        read = self.read_cookie_names
        return source.values(
            (n, piece.partition("=")[2].strip(" \t")) for n, piece in pieces if n in read
        )

    def state(
        self,
        consent_cookies: tuple[str | None, ...],
        headers: Mapping[bytes, bytes],
        client_ip: str | None,
        bot: bool,
    ) -> tuple[ConsentState, bool, float]:
        """The visitor's consent state, whether a consent cookie failed verification, and
        until when (a Unix time) the state holds.

        ``consent_cookies`` comes from ``cookie_values``; ``headers`` holds the request
        headers by lower-case name (the policy reads ``Sec-GPC`` and the country headers);
        ``bot`` says whether the client is a bot.
        """
        gpc = gpc_enabled(headers.get(b"sec-gpc"))
        place = self.resolver.inputs(headers, client_ip)
        key = (consent_cookies, place, gpc, bot)
        cached = self.states.table.get(key)
        if cached is not None and cached[2] >= time.time():
            self.states.hits += 1
            return cached
        country, subdivision = self.resolver.resolve(headers, client_ip)
        regime = self.regions.regime_for(country, subdivision) or self.default_regime
        if self.source is not None:
            reading = self.source.read(consent_cookies)
            result = self.cmp_state(reading, regime, country, subdivision, gpc, bot)
            return self._file(key, result, consent_cookies, place)
        decisions = [
            self.codec.decode(value, self.policy_version)
            for value in consent_cookies
            if value is not None
        ]
        valid = [decision for decision in decisions if decision is not None]
        invalid = not valid and bool(consent_cookies)
        if valid:
            state = self.decided_state(
                most_restrictive(valid), regime, country, subdivision, gpc, bot
            )
            first_expiry = min(decision.decided_at.timestamp() for decision in valid)
            valid_until = first_expiry + self.codec.max_age_seconds
        else:
            state = self.default_state(regime, country, subdivision, gpc, bot)
            valid_until = math.inf
        return self._file(key, (state, invalid, valid_until), consent_cookies, place)

    def _file(
        self,
        key: tuple[object, ...],
        result: tuple[ConsentState, bool, float],
        consent_cookies: tuple[str | None, ...],
        place: tuple[object, ...],
    ) -> tuple[ConsentState, bool, float]:
        size = sum(len(value) for value in consent_cookies if value is not None)
        size += sum(len(part) for part in place if isinstance(part, bytes | str))
        return self.states.put(key, result, size)

    def cmp_state(
        self,
        reading: Reading,
        regime: Regime,
        country: str | None,
        subdivision: str | None,
        gpc: bool,
        bot: bool,
    ) -> tuple[ConsentState, bool, float]:
        """The state from the choice the site's CMP stored (``consent_source``), or the
        regime's default when it stored none or its cookie does not read. A CMP's cookie
        lasts as long as the browser keeps it: the state holds until it changes."""
        if reading.granted is None or reading.source is None:
            state = self.default_state(regime, country, subdivision, gpc, bot)
        else:
            state = ConsentState(
                granted=reading.granted,
                decided=True,
                source=reading.source,
                policy_version=self.policy_version,
                regime=regime,
                country=country,
                subdivision=subdivision,
                gpc=gpc,
                bot=bot,
                tc_string=reading.tc_string,
            )
        return state, reading.invalid, math.inf

    def default_state(
        self, regime: Regime, country: str | None, subdivision: str | None, gpc: bool, bot: bool
    ) -> ConsentState:
        """The state of a visitor with no choice stored: what the regime (and GPC) grant."""
        granted, source = default_grants(regime, gpc)
        return ConsentState(
            granted=granted,
            decided=False,
            source=source,
            policy_version=self.policy_version,
            regime=regime,
            country=country,
            subdivision=subdivision,
            gpc=gpc,
            bot=bot,
        )

    def consent_cookie_name(self, secure: bool) -> str:
        """The name a choice is saved under: with ``cookie_host_prefix``, ``__Host-`` and the
        name over HTTPS; over plain HTTP (local development), where browsers refuse such a
        cookie, the name alone."""
        prefixed = secure and self.host_prefix
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
