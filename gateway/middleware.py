"""``ConsentMiddleware``: the ASGI plumbing around a ``Gateway``.

Per request: decide the visitor's consent state, hide refused cookies from the app, answer
the API prefix (``/_consent``) itself, and on the way out drop refused ``Set-Cookie``
headers, expire refused cookies the browser still holds, and hand HTML pages to
``gateway.html.inject`` (the banner's tags, tracker neutralisation). Pure ASGI, so it
streams and works around any framework; the state of one response lives on its own
``ResponseEnforcer``, never on the middleware.
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.app import Gateway
from gateway.cookies.enforce import COOKIE, Visit, request_headers, request_host
from gateway.endpoint import ApiRequest
from gateway.html.inject import Page, PageResponder
from gateway.html.rewriter import TrackerHook
from gateway.settings import Settings
from gateway.store import Store


class ConsentMiddleware:
    """Enforce cookie consent for the wrapped ASGI app.

    ``ConsentMiddleware(app, settings)`` or ``ConsentMiddleware(app, secret=..., ...)`` with
    the keyword names of ``Settings`` (Starlette's ``add_middleware`` passes them the same
    way), or ``ConsentMiddleware(app, gateway=Gateway(settings))`` to share the parts.
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings | None = None,
        *,
        gateway: Gateway | None = None,
        store: Store | None = None,
        trackers: TrackerHook | None = None,
        **options: Any,
    ) -> None:
        if gateway is None:
            if settings is None:
                settings = Settings.load(**options)
            elif options:
                settings = Settings.load(environ={}, **{**settings.model_dump(), **options})
            gateway = Gateway(settings, store=store, trackers=trackers)
        self.app = app
        self.gateway = gateway
        self.settings = gateway.settings
        self._prefix = gateway.settings.api_prefix
        self._proxies = gateway.proxies if gateway.proxies else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), self._lifespan_send(send))
            return
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        scope, visit, named = self._enter(scope)
        if kind == "websocket":
            await self.app(scope, receive, self._handshake_send(scope, visit, send))
            return
        path: str = scope["path"]
        prefix = self._prefix
        if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
            secure = scope.get("scheme") == "https"
            request = ApiRequest(visit.state, visit.cookie_names, request_host(scope), secure)
            await self.gateway.api(scope, receive, send, request)
            return
        response = ResponseEnforcer(self.gateway, visit, scope, named, send)
        await self.app(scope, receive, response.send)
        await response.finish()

    def _enter(self, scope: Scope) -> tuple[Scope, Visit, dict[bytes, bytes]]:
        """The scope the app sees (from a trusted proxy: the visitor's client, scheme and
        Host, ``gateway.proxies``; refused cookies hidden; the consent state in
        ``scope["state"]["consent"]``), the request's visit and its headers by name."""
        if self._proxies is not None:
            scope = self._proxies.resolve(scope)
        headers = scope["headers"]
        if type(headers) is not list:
            headers = list(headers)
            scope = {**scope, "headers": headers}
        named = dict(headers)  # by name, built in C; repeated headers need request_headers
        if len(named) != len(headers):
            named = request_headers(headers)
        visit = self.gateway.enforcer.visit(named, scope)
        if visit.changed:
            headers = [header for header in headers if header[0] != COOKIE]
            if visit.app_cookie is not None:
                headers.append((COOKIE, visit.app_cookie))
            scope = {**scope, "headers": headers}
        scope_state = scope.get("state")
        if scope_state is None:
            scope = {**scope, "state": {}}
            scope_state = scope["state"]
        scope_state["consent"] = visit.state
        return scope, visit, named

    def _handshake_send(self, scope: Scope, visit: Visit, send: Send) -> Send:
        """A WebSocket's ``send``: the handshake's answer (the 101, or a response in its
        place) gets its ``Set-Cookie`` lines enforced as any response's; nothing else of a
        WebSocket is touched (no banner)."""
        gateway = self.gateway

        def wrapped(message: Message) -> Awaitable[None]:  # no coroutine per message
            kind = message["type"]
            if kind == "websocket.accept" or kind == "websocket.http.response.start":
                plan = gateway.enforcer.response(message.get("headers", ()), visit, scope)
                if plan.removed:
                    gateway.metrics.tally.add(plan.removed)
                for name in plan.unknown:
                    gateway.cookies.note_unknown(name)
                message = {**message, "headers": list(plan.headers)}
            return send(message)

        return wrapped

    def _lifespan_receive(self, receive: Receive) -> Receive:
        """Start the gateway when the server starts, close it when the server shuts down."""

        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.gateway.start()
            elif message["type"] == "lifespan.shutdown":
                await self.gateway.aclose()
            return message

        return wrapped

    def _lifespan_send(self, send: Send) -> Send:
        """With ``freeze_startup_objects`` (the gateway's own server turns it on), once the
        app reports it has started: freeze what is alive (its modules, the gateway's rules),
        which every full garbage collection would otherwise walk again. Those passes took up
        to 16 ms here, while requests waited. Off by default: the collector belongs to the
        host application."""

        async def wrapped(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete" and (
                self.settings.freeze_startup_objects
            ):
                gc.collect()  # what is garbage now goes first, so freezing keeps none of it
                gc.freeze()
            await send(message)

        return wrapped

    async def aclose(self) -> None:
        """Write what is pending and close the store (``Gateway.aclose``)."""
        await self.gateway.aclose()


async def _held() -> None:
    """What ``send`` returns for a start message held back: nothing to wait for."""


class ResponseEnforcer:
    """The ``send`` of one response: its start gets the enforced headers; an HTML page's
    start is held until its body says what the page becomes."""

    __slots__ = ("_gateway", "_named", "_page", "_responder", "_scope", "_send", "_start", "_visit")

    def __init__(
        self,
        gateway: Gateway,
        visit: Visit,
        scope: Scope,
        named: Mapping[bytes, bytes],
        send: Send,
    ) -> None:
        self._gateway = gateway
        self._visit = visit
        self._scope = scope
        self._named = named
        self._send = send
        self._page: Page | None = None  # the page's decision, while its start is held
        self._start: Message = {}  # the app's start message, while held
        self._responder: PageResponder | None = None  # a page whose body streams

    def send(self, message: Message) -> Awaitable[None]:
        """A plain function handing back ``send``'s awaitable: no coroutine per message."""
        if self._responder is not None:
            return self._responder(message)
        page = self._page
        if page is not None:
            self._page = None
            injector = self._gateway.injector
            if message["type"] == "http.response.body" and not message.get("more_body"):
                return injector.whole(page, self._start, message.get("body", b""), self._send)
            self._responder = PageResponder(injector, page, self._start, self._send)
            return self._responder(message)
        if message["type"] == "http.response.start":
            return self._respond(message)
        return self._send(message)

    def _respond(self, message: Message) -> Awaitable[None]:
        """The start with its enforced headers, or held back for a page the injection
        rewrites (the page builds the start it sends)."""
        gateway = self._gateway
        plan = gateway.enforcer.response(message.get("headers", ()), self._visit, self._scope)
        counts = plan.removed
        injector = gateway.injector
        if plan.html and injector.active and message["status"] == 200:
            page, skipped = injector.start(plan, self._scope, self._named, self._visit)
            if skipped is not None:
                counts = (*counts, gateway.metrics.skipped[skipped])
            elif gateway.daily is not None and page and page.head and not self._visit.state.decided:
                gateway.banner_shown(self._visit.state, self._named)  # for the admin page
        else:
            page = None
        if counts:
            gateway.metrics.tally.add(counts)
        for name in plan.unknown:
            gateway.cookies.note_unknown(name)
        if page is not None:
            self._page = page
            self._start = message
            return _held()
        # A new message: an app may send the same dict object to every visitor.
        return self._send({**message, "headers": list(plan.headers)})

    async def finish(self) -> None:
        """The app returned: a page whose start is still held (it sent no body) or whose
        body never ended goes out as far as the app sent it."""
        page = self._page
        if page is not None:
            self._responder = PageResponder(self._gateway.injector, page, self._start, self._send)
        if self._responder is not None:
            closing = self._responder.close()
            if closing is not None:
                await closing
