"""``ConsentMiddleware``: the ASGI plumbing around ``ConsentPolicy``.

Per request: decide the visitor's consent state, hide refused cookies from the app, answer
``/_consent/*`` itself, and on the way out drop refused ``Set-Cookie`` headers and expire
refused cookies the browser still holds. Pure ASGI, so it streams and works around any
framework; per-request state lives in locals and closures, never on ``self``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api import ApiRequest, ConsentAPI
from gateway.enforce import NO_COOKIES, Enforcer
from gateway.metrics import Metrics
from gateway.policy import ConsentPolicy
from gateway.settings import Settings
from gateway.store import Store
from gateway.store_handle import StoreHandle

logger = logging.getLogger("consent_gateway")
COOKIE = b"cookie"


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
        **options: Any,
    ) -> None:
        if settings is None:
            settings = Settings.load(**options)
        elif options:
            settings = Settings.load(environ={}, **{**settings.model_dump(), **options})
        self.app = app
        self.settings = settings
        self.metrics = Metrics()
        self.policy = ConsentPolicy(self.settings, on_unknown=self.metrics.unknown_cookies.inc)
        self.store = StoreHandle(self.settings.database_url, store)
        self.api = ConsentAPI(self.policy, self.metrics, self.store)
        self.enforcer = Enforcer(self.policy, self.metrics)
        self._prefix = self.settings.api_prefix
        self._prefix_slash = self._prefix + "/"
        self._expire = self.settings.expire_refused_cookies
        self._picked = frozenset(
            {b"sec-gpc", b"user-agent", b"host", *self.policy.resolver.header_names}
        )
        self._flushes: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            await self._handle(scope, receive, send)
        elif kind == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
        else:
            await self.app(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        picked: dict[bytes, bytes] = {}
        raw_cookie = b""
        for name, value in scope["headers"]:
            if name == COOKIE:
                raw_cookie = raw_cookie + b"; " + value if raw_cookie else value
            elif name in self._picked:
                picked[name] = value
        cookies = self.enforcer.parse(raw_cookie) if raw_cookie else NO_COOKIES
        client = scope.get("client")
        state, invalid = self.policy.state(
            cookies.consent_values, picked, client[0] if client else None
        )
        if invalid:
            self.metrics.invalid_consent_cookies.inc()
        if state.bot:
            kind = self.policy.agents.bot_kind(picked.get(b"user-agent", b""))
            self.metrics.bot(kind or "unknown")

        refused: tuple[str, ...] = ()
        if raw_cookie:
            seen = self.enforcer.request(raw_cookie, cookies, state)
            if seen.changed:
                refused = seen.refused
                headers = [header for header in scope["headers"] if header[0] != COOKIE]
                if seen.header is not None:
                    headers.append((COOKIE, seen.header))
                scope = {**scope, "headers": headers}
        scope_state = scope.get("state")
        if scope_state is None:
            scope = dict(scope)
            scope["state"] = scope_state = {}
        scope_state["consent"] = state
        if self.policy.unknown_log.due():
            self._flush_unknown_later()

        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        host = picked.get(b"host")
        secure = scope.get("scheme") == "https"
        path: str = scope["path"]
        if path == self._prefix or path.startswith(self._prefix_slash):
            host_text = host.decode("latin-1") if host else None
            request = ApiRequest(state, cookies.names, host_text, secure)
            await self.api(scope, receive, send, request)
            return

        expired = refused if self._expire else ()
        enforcer = self.enforcer

        async def send_enforced(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A new message: an app may send the same dict object to every visitor.
                headers = enforcer.response(
                    message.get("headers", ()), state, expired, host=host, path=path, secure=secure
                )
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_enforced)

    def _lifespan_receive(self, receive: Receive) -> Receive:
        """Write pending counts and close the store when the server shuts down."""

        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await self.aclose()
            return message

        return wrapped

    async def aclose(self) -> None:
        """Write what is pending and close the store."""
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
        await self._flush_unknown()
        self.store.close()

    def _flush_unknown_later(self) -> None:
        task = asyncio.get_running_loop().create_task(self._flush_unknown())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush_unknown(self) -> None:
        batch = self.policy.unknown_log.take()
        if not batch:
            return
        try:
            await self.store.call(
                lambda store: store.count_unknown_cookies(batch, datetime.now(UTC))
            )
        except Exception:
            logger.exception("could not write unknown cookie counts")
            self.metrics.store_errors.labels("count_unknown_cookies").inc()
