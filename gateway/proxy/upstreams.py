"""The upstream servers and their keep-alive connections: round robin over the URLs, a URL
that refused or timed out skipped for ``FAIL_SECONDS`` (as nginx's ``fail_timeout``), and at
most ``keepalive`` idle connections kept per URL (as nginx's ``keepalive``)."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.proxy.connection import UpstreamConnection, UpstreamError, Waits
from gateway.settings import upstream_address


def tls_failure(error: ssl.SSLError) -> str:
    """Why a TLS handshake failed, for the log: the certificate's problem if that was it."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS: the certificate is not trusted: {error.verify_message}"
    return f"TLS handshake failed: {error.reason or error}"


FAIL_SECONDS = 10.0
NEVER = float("-inf")
# An idle connection older than this is closed rather than reused: the upstream may be about
# to close it (Node.js closes idle connections after 5 s), and a request written into a
# connection the upstream is closing fails.
IDLE_SECONDS = 4.0


@dataclass(eq=False)
class Upstream:
    """One upstream URL (``http://host:port`` or ``https://``) and its idle connections."""

    url: str
    host: str
    port: int
    tls: bool = False
    idle: list[tuple[float, UpstreamConnection]] = field(default_factory=list)
    down_until: float = 0.0
    # What the last connection attempt (a request's or readiness's) found: when, and why it
    # failed (None: it connected).
    known: tuple[float, str | None] = (NEVER, None)
    probe: asyncio.Future[str | None] | None = None  # readiness's attempt under way


class Upstreams:
    """Where requests go, and the connections they go over."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        connect_timeout: float,
        read_timeout: float,
        keepalive: int,
        ca_file: Path | None = None,
        ready_interval: float = 5.0,
    ) -> None:
        if not urls:
            raise ValueError("no upstream: set `upstream` (CONSENT_GATEWAY_UPSTREAM)")
        self.all = [
            Upstream(url, *upstream_address(url), tls=url.startswith("https:")) for url in urls
        ]
        # One context for every TLS connection (loading CAs per connection costs milliseconds):
        # certificates verified, against ``ca_file`` alone if given (it replaces the system's
        # CAs, as nginx's and Caddy's setting do), else the system's CAs.
        self.ssl_context: ssl.SSLContext | None = None
        if any(upstream.tls for upstream in self.all):
            self.ssl_context = ssl.create_default_context(cafile=ca_file)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive = keepalive
        self.ready_interval = ready_interval
        self._next = 0
        self._waits: Waits | None = None

    def order(self) -> list[Upstream]:
        """The upstreams to try for a request: from the next in turn, those marked down
        last (tried still, when every one is down)."""
        start = self._next
        self._next = (start + 1) % len(self.all)
        turn = self.all[start:] + self.all[:start]
        if len(turn) == 1:
            return turn
        now = time.monotonic()
        return [u for u in turn if u.down_until <= now] + [u for u in turn if u.down_until > now]

    async def acquire(
        self, upstream: Upstream, *, fresh: bool = False
    ) -> tuple[UpstreamConnection, bool]:
        """An idle connection to ``upstream`` (True: reused) or, ``fresh`` or none idle, a new
        one; raises ``UpstreamError`` when it cannot connect within ``connect_timeout``."""
        now = time.monotonic()
        while upstream.idle and not fresh:
            since, connection = upstream.idle.pop()
            if not connection.closed and now - since < IDLE_SECONDS:
                return connection, True
            connection.close()
        loop = asyncio.get_running_loop()
        if self._waits is None or self._waits.loop is not loop:
            self._waits = Waits(loop)  # one for every connection of this loop
        waits = self._waits
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: UpstreamConnection(loop, self.read_timeout, waits),
                    upstream.host,
                    upstream.port,
                    **self.tls_options(upstream),
                )
        except (TimeoutError, OSError) as error:
            now = time.monotonic()
            upstream.down_until = now + FAIL_SECONDS
            upstream.known = (now, self._failure(error))
            raise UpstreamError(f"{upstream.url}: {upstream.known[1]}") from None
        upstream.known = (time.monotonic(), None)
        return connection, False

    def _failure(self, error: OSError | TimeoutError) -> str:
        """Why a connection could not be opened, for the log."""
        if isinstance(error, TimeoutError):
            return f"no connection within {self.connect_timeout:g} s"
        if isinstance(error, ssl.SSLError):
            return tls_failure(error)
        return error.strerror or str(error)

    async def reachable(self) -> None:
        """Raise ``UpstreamError`` unless at least one upstream is known to accept
        connections (readiness).

        ``/_consent/ready`` is public, so what it costs must not grow with how often it is
        asked: an idle kept-alive connection, or a connection opened (by a request, or by
        this check) within ``ready_interval`` seconds, is the answer; only without either is
        a connection opened (and closed at once; a failure marks nothing down), one per
        upstream at a time, however many checks wait for it."""
        now = time.monotonic()
        failures = []
        for upstream in self.all:
            if any(now - since < IDLE_SECONDS and not c.closed for since, c in upstream.idle):
                return
            when, failure = upstream.known
            if now - when >= self.ready_interval:
                if upstream.probe is None:
                    upstream.probe = asyncio.ensure_future(self._probe(upstream))
                # Shielded: a check that times out leaves the attempt to the next one.
                failure = await asyncio.shield(upstream.probe)
            if failure is None:
                return
            failures.append(f"{upstream.url}: {failure}")
        raise UpstreamError("; ".join(failures))

    async def _probe(self, upstream: Upstream) -> str | None:
        """Open a connection to ``upstream`` and close it: why it failed, or None."""
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, writer = await asyncio.open_connection(
                    upstream.host, upstream.port, **self.tls_options(upstream)
                )
            writer.close()
            failure = None
        except (TimeoutError, OSError) as error:
            failure = self._failure(error)
        finally:
            upstream.probe = None
        upstream.known = (time.monotonic(), failure)
        return failure

    def tls_options(self, upstream: Upstream) -> dict[str, Any]:
        """``create_connection``'s TLS arguments for ``upstream``: none for ``http://``; the
        shared context and the URL's host (SNI and the name the certificate must carry, never
        the client's ``Host``) for ``https://``."""
        if not upstream.tls:
            return {}
        return {"ssl": self.ssl_context, "server_hostname": upstream.host}

    def release(self, upstream: Upstream, connection: UpstreamConnection) -> None:
        """Keep a connection whose response was read whole for the next request."""
        if connection.reusable and not connection.closed and len(upstream.idle) < self.keepalive:
            upstream.idle.append((time.monotonic(), connection))
        else:
            connection.close()

    def close(self) -> None:
        """Close every idle connection (the server is stopping)."""
        for upstream in self.all:
            for _, connection in upstream.idle:
                connection.close()
            upstream.idle.clear()
