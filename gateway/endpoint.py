"""What every endpoint the gateway answers itself shares (the consent API and the analytics
collection endpoints): the request as the gateway already knows it, client errors, and a
bounded body reader."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import Receive

from gateway.consent.state import ConsentState


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
