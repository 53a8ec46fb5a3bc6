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
from gateway.consent import ConsentState
from gateway.cookies import filter_cookie_pieces, split_cookie_header
from gateway.enforce import add_vary_cookie, expire_refused, filter_set_cookies
from gateway.metrics import Metrics
from gateway.policy import ConsentPolicy, RequestFacts
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
        self._prefix = self.settings.api_prefix
        self._prefix_slash = self._prefix + "/"
        self._cookie_name = self.settings.cookie_name
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
        cookie_parts: list[bytes] = []
        for name, value in scope["headers"]:
            if name == COOKIE:
                cookie_parts.append(value)
            elif name in self._picked:
                picked[name] = value
        cookie_header = b"; ".join(cookie_parts).decode("latin-1") if cookie_parts else ""
        pieces = split_cookie_header(cookie_header) if cookie_header else []
        consent_name = self._cookie_name
        consent_cookies = tuple(
            piece.partition("=")[2].strip(" \t") for name, piece in pieces if name == consent_name
        )
        client = scope.get("client")
        facts = RequestFacts(
            consent_cookies=consent_cookies,
            headers=picked,
            client_ip=client[0] if client else None,
            user_agent=picked.get(b"user-agent", b"").decode("latin-1"),
        )
        state, invalid = self.policy.state(facts)
        if invalid:
            self.metrics.invalid_consent_cookies.inc()
        if state.bot:
            self.metrics.bot(self.policy.agents.bot_kind(facts.user_agent) or "unknown")

        refused: list[str] = []
        if cookie_header:
            kept, refused = filter_cookie_pieces(
                cookie_header, pieces, lambda name: self.policy.allows(state, name)
            )
            if refused:
                for name in refused:
                    category = self.policy.category_of(name)
                    self.metrics.removed(category.value if category else "unknown", "request")
                headers = [header for header in scope["headers"] if header[0] != COOKIE]
                if kept is not None:
                    headers.append((COOKIE, kept.encode("latin-1")))
                scope = {**scope, "headers": headers}
        scope_state = scope.get("state")
        if scope_state is None:
            scope = dict(scope)
            scope["state"] = scope_state = {}
        scope_state["consent"] = state
        if self.policy.unknown_log.due():
            self._flush_unknown_later()

        host_header = picked.get(b"host")
        host = host_header.decode("latin-1") if host_header else None
        secure = scope.get("scheme") in ("https", "wss")
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == self._prefix or path.startswith(self._prefix_slash):
            names = tuple(name for name, _ in pieces)
            await self.api(scope, receive, send, ApiRequest(state, names, host, secure))
            return

        expired_names = refused if self._expire else []

        async def send_enforced(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = self._enforce(message, state, expired_names, host, path, secure)
            await send(message)

        await self.app(scope, receive, send_enforced)

    def _enforce(
        self,
        message: Message,
        state: ConsentState,
        expired_names: list[str],
        host: str | None,
        path: str,
        secure: bool,
    ) -> Message:
        headers, varies = filter_set_cookies(
            message.get("headers", ()), state, self.policy, self.metrics
        )
        if expired_names:
            expired = expire_refused(
                expired_names, state, self.policy, self.metrics, host=host, path=path, secure=secure
            )
            headers.extend(expired)
            varies = varies or bool(expired)
        if varies:
            add_vary_cookie(headers)
        return {**message, "headers": headers}

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
