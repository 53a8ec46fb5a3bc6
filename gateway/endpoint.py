"""What every endpoint the gateway answers itself shares (the consent API and the analytics
collection endpoints): the request as the gateway already knows it, client errors, a bounded
body reader and the CORS rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import Receive

from gateway.consent.state import ConsentState

Header = tuple[bytes, bytes]
PREFLIGHT_MAX_AGE = b"600"  # seconds a browser may reuse a preflight's answer


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """What an endpoint needs to know about one request beyond its scope."""

    state: ConsentState
    cookie_names: tuple[str, ...]
    host: str | None
    secure: bool


class ClientError(Exception):
    """A client's mistake, answered with ``status``, ``headers`` and ``{"error": message}``;
    ``reason`` labels the metric of refused analytics hits."""

    def __init__(
        self,
        status: int,
        message: str,
        reason: str = "bad_request",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.headers = headers


async def read_body(headers: Headers, receive: Receive, limit: int) -> bytes:
    """The whole request body, refused with a 413 as soon as it is known to exceed ``limit``
    (by its Content-Length, or once that many bytes arrived)."""
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ClientError(400, "invalid Content-Length")
        if int(declared) > limit:
            raise ClientError(413, f"the body may be at most {limit} bytes", "too_large")
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientError(400, "the client went away")
        body += message.get("body", b"")
        if len(body) > limit:
            raise ClientError(413, f"the body may be at most {limit} bytes", "too_large")
        if not message.get("more_body", False):
            return bytes(body)


class Cors:
    """Which other origins' pages may call the gateway's endpoints (setting
    ``allowed_origins``, the embed deployment), and the headers that tell a browser so."""

    def __init__(self, allowed_origins: Iterable[str]) -> None:
        self.origins = frozenset(origin.lower() for origin in allowed_origins)

    def allows(self, origin: str | None) -> bool:
        return origin is not None and origin.lower() in self.origins

    def headers(self, origin: str | None) -> list[Header]:
        """A response's CORS headers: the origin, with credentials, when it is allowed; and
        ``Vary: Origin`` whatever it is, since the answer depends on it."""
        vary = (b"vary", b"Origin")
        if origin is None or not self.allows(origin):
            return [vary]
        return [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            vary,
        ]

    def preflight(self, origin: str | None, methods: str) -> list[Header]:
        """The headers of a 204 to a preflight for ``methods``; a 403 for an origin that is
        not allowed (so the browser never sends the request)."""
        if not self.allows(origin):
            raise ClientError(403, "this origin may not call this endpoint", "cross_origin")
        return [
            *self.headers(origin),
            (b"access-control-allow-methods", methods.encode("latin-1")),
            (b"access-control-allow-headers", b"content-type"),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE),
        ]
