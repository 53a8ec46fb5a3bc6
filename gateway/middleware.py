"""``ConsentMiddleware``: the ASGI plumbing around ``ConsentPolicy``.

Per request: decide the visitor's consent state, hide refused cookies from the app, answer
``/_consent/*`` itself, and on the way out drop refused ``Set-Cookie`` headers, expire
refused cookies the browser still holds, and hand HTML pages to ``gateway.inject`` (the
banner's tags, tracker neutralisation). Pure ASGI, so it streams and works around any
framework; per-request state lives in locals and closures, never on ``self``.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api import ApiRequest, ConsentAPI
from gateway.banner import Banner
from gateway.enforce import COOKIE, Enforcer, Header, Visit, request_headers, request_host
from gateway.html import TrackerHook
from gateway.inject import Injector, Page, PageResponder, reads_origin
from gateway.later import LaterWrite
from gateway.metrics import Metrics
from gateway.policy import ConsentPolicy
from gateway.settings import Settings
from gateway.store import Store
from gateway.store_handle import StoreHandle
from gateway.trackers import TrackerRules

logger = logging.getLogger("consent_gateway")


async def _held() -> None:
    """What ``send`` returns for a start message held back: nothing to wait for."""


@dataclass(slots=True, eq=False)
class LastResponse:
    """What a response start got, with everything it depended on beyond the visit: the same
    visitor's next page usually starts the same way, and is then answered by comparing,
    without the response plan or the page decision."""

    app_headers: list[Header]  # as the app sent them
    # What the injection's decision depended on; other responses depend on headers alone.
    injectable: bool  # an HTML page, with injection on
    status: int
    method: str
    dest: bytes | None  # Sec-Fetch-Dest
    nonce: object  # the app's CSP nonce in ``scope["state"]``
    origin: tuple[object, bytes | None] | None  # (scheme, host); None: no CSP compares it
    headers: tuple[Header, ...]  # the enforced ones
    page: Page | None  # the page's injection, when it gets one
    counts: tuple[object, ...]  # metric children each such response adds
    unknown: tuple[str, ...]  # Set-Cookie names no rule classifies
    counted: bool  # either of the two is not empty

    def answers(self, message: Message, scope: Scope, named: Mapping[bytes, bytes]) -> bool:
        """Whether this start of this request gets the same answer."""
        if self.app_headers != message.get("headers", ()):
            return False
        return not self.injectable or (
            self.status == message["status"]
            and self.method == scope["method"]
            and self.dest == named.get(b"sec-fetch-dest")
            and self.nonce == scope["state"].get("csp_nonce")
            and (self.origin is None or self.origin == (scope.get("scheme"), named.get(b"host")))
        )


class ConsentMiddleware:
    """Enforce cookie consent for the wrapped ASGI app.

    ``ConsentMiddleware(app, settings)`` or ``ConsentMiddleware(app, secret=..., ...)`` with
    the keyword names of ``Settings``; Starlette's ``add_middleware`` passes them the same way.
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        trackers: TrackerHook | None = None,
        **options: Any,
    ) -> None:
        if settings is None:
            settings = Settings.load(**options)
        elif options:
            settings = Settings.load(environ={}, **{**settings.model_dump(), **options})
        self.app = app
        self.settings = settings
        self.metrics = Metrics()
        self.policy = ConsentPolicy(self.settings, on_unknown=self.metrics.unknown_cookie)
        self.store = StoreHandle(self.settings.database_url, store)
        self.banner = Banner.load(self.settings.api_prefix, settings=self.settings)
        self.api = ConsentAPI(self.policy, self.metrics, self.store, self.banner)
        self.enforcer = Enforcer(self.policy, self.metrics)
        if trackers is None and settings.block_trackers != "never":
            trackers = TrackerRules.load(containers=settings.gtm_containers)
        self.injector = Injector(
            self.banner,
            self.metrics,
            insert=settings.inject_banner,
            block_trackers=settings.block_trackers,
            trackers=trackers,
            api_prefix=settings.api_prefix,
            crawlers=self.policy.agents.crawlers,
        )
        self._inject = self.injector if self.injector.active else None
        self._prefix = self.settings.api_prefix
        self._unknown_writes = LaterWrite(
            self._flush_unknown, lambda: self.policy.unknown_log.flush_interval
        )
        self.policy.unknown_log.on_pending = self._unknown_writes.soon

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            if kind == "lifespan":
                receive = self._lifespan_receive(receive)
                send = self._lifespan_send(send)
            await self.app(scope, receive, send)
            return
        # Inline rather than in a helper coroutine: this runs on every request.
        headers = scope["headers"]
        if type(headers) is not list:
            headers = list(headers)
            scope = {**scope, "headers": headers}
        named = dict(headers)  # by name, built in C; repeated headers need request_headers
        if len(named) != len(headers):
            named = request_headers(headers)
        visit = self.enforcer.visit(named, scope)
        state = visit.state
        if visit.changed:
            headers = [header for header in scope["headers"] if header[0] != COOKIE]
            if visit.app_cookie is not None:
                headers.append((COOKIE, visit.app_cookie))
            scope = {**scope, "headers": headers}
        scope_state = scope.get("state")
        if scope_state is None:
            scope = dict(scope)
            scope["state"] = scope_state = {}
        scope_state["consent"] = state

        if kind == "websocket":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        prefix = self._prefix
        if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
            secure = scope.get("scheme") == "https"
            request = ApiRequest(state, visit.cookie_names, request_host(scope), secure)
            await self.api(scope, receive, send, request)
            return

        # One cell for what the response has become, one for a held start: closure cells are
        # objects made per request, so what the function only reads comes in as defaults.
        held: Page | PageResponder | None = None  # a page's decision, then its responder
        start: Message = {}  # the app's start message, while ``held`` is a Page

        def send_enforced(
            message: Message,
            send: Send = send,
            visit: Visit = visit,
            scope: Scope = scope,
            named: dict[bytes, bytes] = named,
            gateway: ConsentMiddleware = self,
        ) -> Awaitable[None]:
            # A plain function handing back ``send``'s awaitable: no coroutine per message.
            nonlocal held, start
            if held is not None:
                if isinstance(held, PageResponder):
                    return held(message)
                page = held
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    held = None  # the usual page: its body in one message
                    return gateway.injector.whole(page, start, message.get("body", b""), send)
                held = responder = PageResponder(gateway.injector, page, start, send)
                return responder(message)
            if message["type"] == "http.response.start":
                last = visit.last_response
                if last is None or not last.answers(message, scope, named):
                    last = gateway._respond(message, visit, scope, named)
                if last.counted:
                    gateway._count(last)
                if last.page is not None:  # it builds the start it sends from its headers
                    held = last.page
                    start = message
                    return _held()
                # A new message: an app may send the same dict object to every visitor.
                message = {**message, "headers": list(last.headers)}
            return send(message)

        await self.app(scope, receive, send_enforced)
        if held is None:
            return
        if not isinstance(held, PageResponder):  # the app returned without a body
            held = PageResponder(self.injector, held, start, send)
        closing = held.close()
        if closing is not None:
            await closing

    def _respond(
        self, message: Message, visit: Visit, scope: Scope, named: Mapping[bytes, bytes]
    ) -> LastResponse:
        """What a response start gets when the visit's last one does not answer it: the
        plan of its headers and, for an HTML page, the injection's decision. Kept on the
        visit when the plan is a remembered one (and so the decision too)."""
        headers = message.get("headers", ())
        status: int = message["status"]
        plan = self.enforcer.response(headers, visit, scope)
        page = skipped = None
        inject = self._inject if plan.html else None
        if inject is not None and status == 200:
            page, skipped = inject.start(plan, scope, named, visit)
        origin = (scope.get("scheme"), named.get(b"host")) if reads_origin(plan.headers) else None
        counts = plan.removed
        if skipped is not None:
            counts = (*counts, self.metrics.skipped[skipped])
        last = LastResponse(
            app_headers=list(headers) if plan.remembered else [],
            injectable=inject is not None,
            status=status,
            method=scope["method"],
            dest=named.get(b"sec-fetch-dest"),
            nonce=scope["state"].get("csp_nonce"),
            origin=origin,
            headers=plan.headers,
            page=page,
            counts=counts,
            unknown=plan.unknown,
            counted=bool(counts or plan.unknown),
        )
        if plan.remembered:
            visit.last_response = last
        return last

    def _count(self, last: LastResponse) -> None:
        if last.counts:
            self.metrics.tally.add(last.counts)
        for name in last.unknown:
            self.policy.note_unknown(name)

    def _lifespan_receive(self, receive: Receive) -> Receive:
        """Start forwarding analytics when the server starts; write pending counts, drain
        the analytics outbox writer and close the store when it shuts down."""

        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup" and self.api.collect is not None:
                await self.api.collect.start()
            if message["type"] == "lifespan.shutdown":
                await self.aclose()
            return message

        return wrapped

    def _lifespan_send(self, send: Send) -> Send:
        """Once the app reports it has started: freeze what is alive (its modules, the
        gateway's rules), which every full garbage collection would otherwise walk again.
        Those passes took up to 16 ms here, while requests waited."""

        async def wrapped(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete" and (
                self.settings.freeze_startup_objects
            ):
                gc.collect()  # what is garbage now goes first, so freezing keeps none of it
                gc.freeze()
            await send(message)

        return wrapped

    async def aclose(self) -> None:
        """Write what is pending and close the store."""
        if self.api.collect is not None:
            await self.api.collect.aclose()
        await self._unknown_writes.close()
        await self.api.seen_writes.close()
        self.store.close()

    async def _flush_unknown(self) -> None:
        counts, errors = self.policy.unknown_log.take()
        if not counts:
            return
        try:
            await self.store.call(
                lambda store: store.count_unknown_cookies(counts, datetime.now(UTC), errors)
            )
        except Exception:
            logger.exception("could not write unknown cookie counts")
            self.metrics.store_errors.labels("count_unknown_cookies").inc()
