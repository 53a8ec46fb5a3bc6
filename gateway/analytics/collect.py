"""``/_consent/collect/<provider>/...``: the collection endpoints, in front of the outbox.

Per request: find the provider and its route (404 otherwise), drop bots, read the body
within the provider's limit (413), let the provider module parse and redact it (400 for
malformed input, never a 500), drop it when the visitor did not consent to analytics and
the provider's mode is ``drop``, commit the hits to the outbox, and only then answer the
way the provider's own server would. Every decision is counted per provider.

A bot is told by its User-Agent; where a provider's protocol lets a server-side client name
the visitor's (Matomo's ``ua``, Umami's ``userAgent``, PostHog's ``$raw_user_agent``), the
hit's decides, since the request's is the client's server's (or none: Node's http sends
none). A dropped bot hit is logged at debug level, with the bot kind and the User-Agent.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from gateway.analytics.base import Answer, CollectRequest, Hit, Provider, Visitor, encode_payload
from gateway.analytics.forwarder import Forwarder
from gateway.analytics.outbox import OutboxStore, OutboxWriter
from gateway.analytics.providers.ga4 import GA4
from gateway.analytics.providers.matomo import Matomo
from gateway.analytics.providers.plausible import Plausible
from gateway.analytics.providers.posthog import PostHog
from gateway.analytics.providers.sentry import Sentry
from gateway.analytics.providers.umami import Umami
from gateway.analytics.redact import RedactionRules, Redactor
from gateway.analytics.salts import DailySalts
from gateway.consent.agents import OTHER_BOT, AgentClassifier
from gateway.consent.state import Category, ConsentState
from gateway.endpoint import ClientError, Cors, read_body
from gateway.metrics import Metrics
from gateway.proxies import client_address
from gateway.settings.analytics import AnalyticsSettings
from gateway.store import OutboxHit
from gateway.store.handle import StoreHandle

if TYPE_CHECKING:
    from gateway.endpoint import ApiRequest

logger = logging.getLogger("consent_gateway")
PREFIX = "/collect/"
METHODS = "GET, POST"  # what a preflight may ask for
_MODULES: dict[str, Any] = {
    "ga4": GA4,
    "matomo": Matomo,
    "plausible": Plausible,
    "umami": Umami,
    "posthog": PostHog,
    "sentry": Sentry,
}


REQUESTS_PER_BATCH = 32  # upstream requests in flight for one batch of single-hit providers


def build_providers(settings: AnalyticsSettings, redactor: Redactor) -> dict[str, Provider]:
    """One provider object per configured ``[analytics.<name>]`` table."""
    return {
        name: _MODULES[name](provider, redactor, REQUESTS_PER_BATCH)
        for name, provider in settings.providers().items()
    }


class Collector:
    """The dispatcher ``ConsentAPI`` hands ``/collect/...`` requests to."""

    def __init__(
        self,
        settings: AnalyticsSettings,
        *,
        allowed_origins: list[str],
        agents: AgentClassifier,
        metrics: Metrics,
        store: StoreHandle,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.agents = agents
        self.redactor = Redactor(
            RedactionRules.load(),
            ipv4_prefix=settings.ipv4_prefix,
            ipv6_prefix=settings.ipv6_prefix,
            agents=agents,
            reduce_user_agent=settings.reduce_user_agent,
        )
        self.cors = Cors(allowed_origins)
        self.providers = build_providers(settings, self.redactor)
        self.store = OutboxStore(store)
        self.salts = DailySalts(self.store.call)
        self.forwarder = Forwarder(self.providers, self.store, settings, metrics)
        self.writer = OutboxWriter(self.store, on_commit=self.forwarder.wake)
        self._counters: dict[tuple[str, str], Any] = {}
        self._redactions: dict[tuple[str, str], Any] = {}

    def count(self, provider: str, decision: str, amount: int = 1) -> None:
        key = (provider, decision)
        child = self._counters.get(key)
        if child is None:
            child = self._counters[key] = self.metrics.analytics_hits.labels(provider, decision)
        child.inc(amount)

    def _redacted(self, provider: str, kind: str) -> Any:
        key = (provider, kind)
        child = self._redactions.get(key)
        if child is None:
            child = self._redactions[key] = self.metrics.analytics_redactions.labels(*key)
        return child

    @property
    def forwards(self) -> bool:
        """Whether this process forwards (not when ``forwarder = "separate"``)."""
        return self.settings.forwarder == "worker"

    async def start(self) -> None:
        """Start forwarding (at server start-up: hits left by an earlier process go out)."""
        if self.forwards:
            self.forwarder.start()

    async def aclose(self) -> None:
        """Finish the commits in progress, then stop forwarding."""
        await self.writer.flush()
        await self.forwarder.aclose()
        self.store.close()

    async def __call__(
        self, route: str, scope: Scope, receive: Receive, send: Send, request: ApiRequest
    ) -> None:
        """Answer ``route`` (the path below the API prefix, ``/collect/<provider>/...``)."""
        state = request.state
        name, _, rest = route[len(PREFIX) :].partition("/")
        headers = Headers(scope=scope)
        try:
            answer = await self._handle(name, "/" + rest, scope, receive, headers, state)
        except ClientError as error:
            self.count(name if name in self.providers else "unknown", error.reason)
            answer = Answer.json({"error": error.message}, error.status)
        response_headers = [
            (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff"),
        ]
        if answer.media_type is not None:
            response_headers.append((b"content-type", answer.media_type.encode("latin-1")))
        response_headers.append((b"content-length", str(len(answer.body)).encode("latin-1")))
        response_headers += answer.headers or self.cors.headers(headers.get("origin"))
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": response_headers}
        )
        await send({"type": "http.response.body", "body": answer.body})

    async def _handle(
        self,
        name: str,
        path: str,
        scope: Scope,
        receive: Receive,
        headers: Headers,
        state: ConsentState,
    ) -> Answer:
        provider = self.providers.get(name)
        method = scope["method"]
        if provider is None:
            raise ClientError(
                404, f"no analytics provider is collected at {scope['path']}", "not_found"
            )
        if method == "OPTIONS":
            return Answer(204, headers=tuple(self.cors.preflight(headers.get("origin"), METHODS)))
        if not provider.route(method, path):
            raise ClientError(
                404, f"no {name} endpoint at {scope['path']} for {method}", "not_found"
            )
        if state.bot and not provider.claims_agent:
            self._drop_bot(name, headers.get("user-agent", ""))
            return Answer(204)
        body = await read_body(headers, receive, provider.settings.body_limit)
        try:
            visitor = await self._visitor(scope, headers, state)
        except Exception:
            logger.exception("could not read today's salt from the store")
            self.metrics.store_errors.labels("salt_for").inc()
            raise ClientError(
                503, "the hit could not be stored; please retry", "store_error"
            ) from None
        query = scope.get("query_string", b"").decode("latin-1")
        # The visitor as this provider is to see them.
        seen = visitor.anonymised() if provider.settings.anonymize == "always" else visitor
        request = CollectRequest(method, path, query, headers, body, seen)
        try:
            ingested = await provider.ingest(request)
        except ClientError:
            raise
        except Exception:  # a parser bug: fail closed, store nothing, no 500
            logger.exception("could not parse a %s hit", name)
            raise ClientError(400, "the hit could not be read", "malformed") from None
        for kind, amount in ingested.redactions.items():
            self._redacted(name, kind).inc(amount)
        if not ingested.hits:
            self.count(name, "filtered")
            return ingested.response
        humans = [hit for hit in ingested.hits if not self._from_bot(name, hit, seen, state)]
        if not humans:
            return ingested.response
        if not visitor.analytics and provider.settings.mode == "drop":
            self.count(name, "no_consent", len(humans))
            return ingested.response
        now = time.time()
        hits = [
            OutboxHit(hit.hit_id, name, encode_payload(hit.visitor or seen, hit.data), now)
            for hit in humans
        ]
        if self.forwards and not self.forwarder.running:
            self.forwarder.start()  # served without a lifespan: start with the first hit
        try:
            await self.writer.add(hits)
        except Exception:
            self.count(name, "store_error", len(hits))
            self.metrics.store_errors.labels("outbox_add").inc()
            raise ClientError(
                503, "the hit could not be stored; please retry", "store_error"
            ) from None
        self.count(name, "consented" if seen.analytics else "cookieless", len(hits))
        return ingested.response

    def _from_bot(self, name: str, hit: Hit, visitor: Visitor, state: ConsentState) -> bool:
        """Whether ``hit`` comes from a bot (then dropped): by the User-Agent it names, else
        by the request's."""
        if hit.visitor is None or hit.visitor is visitor:
            bot = state.bot
            agent = visitor.raw_user_agent
        else:
            agent = hit.visitor.raw_user_agent
            bot = self.agents.bot_kind(agent) is not None
        if bot:
            self._drop_bot(name, agent)
        return bot

    def _drop_bot(self, name: str, agent: str) -> None:
        """Count a bot's hit, and say so in the log: a client the gateway takes for a bot
        (a server-side one without a User-Agent, say) is otherwise answered but never seen."""
        self.count(name, "bot")
        if logger.isEnabledFor(logging.DEBUG):
            kind = self.agents.bot_kind(agent) or OTHER_BOT
            logger.debug("dropped a %s hit from a bot (%s): User-Agent %r", name, kind, agent[:80])

    async def _visitor(self, scope: Scope, headers: Headers, state: ConsentState) -> Visitor:
        address = client_address(scope)
        user_agent = headers.get("user-agent", "")
        language = headers.get("accept-language")
        marketing = state.allows(Category.MARKETING)
        return Visitor(
            ip=self.redactor.ip(address),
            user_agent=self.redactor.user_agent(user_agent),
            raw_user_agent=user_agent,
            language=language.split(",")[0].strip()[:35] if language else None,
            analytics=state.allows(Category.ANALYTICS),
            marketing=marketing and not state.gpc,
            salt=await self.salts.current(),
            # Passed on only while it says what the hit enforces: GPC refusing the marketing
            # a TC string granted makes it say more.
            tc_string=None if marketing and state.gpc else state.tc_string,
        )
