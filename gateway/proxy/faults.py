"""An upstream that fails in the middle of its response, handled where the client's side is
known: outside the middleware, which may still hold the start of a page it rewrites.

Nothing of the response reached the client yet: it gets the proxy's 502 page. Its start
went out: the client's connection is closed before the response's announced end (a chunked
body without its last chunk, a ``Content-Length`` not reached), so that no client takes a
cut page for a whole one; uvicorn does this for an app that raises after the start, and its
traceback for that case is kept out of the log. Either way the log gets one warning naming
the upstream, and the access log the upstream's status as 502.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.proxy.access_log import KEY, Entry
from gateway.proxy.app import UpstreamBroken, _error
from gateway.proxy.headers import accept_of

logger = logging.getLogger("consent_gateway.proxy")


class _NoTraceback(logging.Filter):
    """Drops uvicorn's "Exception in ASGI application" for ``UpstreamBroken``: the
    warning of ``upstream_faults`` says what happened, without a stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], UpstreamBroken))


_QUIET = _NoTraceback()


def upstream_faults(app: ASGIApp) -> ASGIApp:
    """``app`` (the middleware around the proxy) with an upstream's failure mid-response
    answered as the module says."""
    uvicorn_log = logging.getLogger("uvicorn.error")
    if _QUIET not in uvicorn_log.filters:
        uvicorn_log.addFilter(_QUIET)

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = False

        def noted(message: Message) -> Awaitable[None]:  # no coroutine per message
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            return send(message)

        try:
            await app(scope, receive, noted)
        except UpstreamBroken as broken:
            entry = (scope.get("state") or {}).get(KEY)
            if isinstance(entry, Entry):
                entry.upstream_status = 502
            if started:
                logger.warning("%s: the response to the client was cut short", broken)
                raise  # uvicorn closes the client's connection
            logger.warning("%s: answered 502", broken)
            await _error(send, 502, accept_of(scope["headers"]), "The site failed to answer.")

    return guarded
