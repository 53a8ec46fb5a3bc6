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
    ) -> None:
        if not urls:
            raise ValueError("no upstream: set `upstream` (CONSENT_GATEWAY_UPSTREAM)")
        self.all = [
            Upstream(url, *upstream_address(url), tls=url.startswith("https:")) for url in urls
        ]
        # One context for every TLS connection (loading CAs per connection costs milliseconds):
        # certificates verified, against ``ca_file`` if given, else the system's CAs.
        self.ssl_context: ssl.SSLContext | None = None
        if any(upstream.tls for upstream in self.all):
            self.ssl_context = ssl.create_default_context(cafile=ca_file)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive = keepalive
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
        except TimeoutError:
            upstream.down_until = time.monotonic() + FAIL_SECONDS
            seconds = f"{self.connect_timeout:g}"
            raise UpstreamError(f"{upstream.url}: no connection within {seconds} s") from None
        except ssl.SSLError as error:
            upstream.down_until = time.monotonic() + FAIL_SECONDS
            raise UpstreamError(f"{upstream.url}: {tls_failure(error)}") from None
        except OSError as error:
            upstream.down_until = time.monotonic() + FAIL_SECONDS
            raise UpstreamError(f"{upstream.url}: {error.strerror or error}") from None
        return connection, False

    async def reachable(self) -> None:
        """Raise ``UpstreamError`` unless at least one upstream accepts a connection now
        (readiness; the connection is closed at once, and a failure marks nothing down)."""
        failures = []
        for upstream in self.all:
            try:
                async with asyncio.timeout(self.connect_timeout):
                    _, writer = await asyncio.open_connection(
                        upstream.host, upstream.port, **self.tls_options(upstream)
                    )
            except TimeoutError:
                failures.append(f"{upstream.url}: no connection within {self.connect_timeout:g} s")
                continue
            except ssl.SSLError as error:
                failures.append(f"{upstream.url}: {tls_failure(error)}")
                continue
            except OSError as error:
                failures.append(f"{upstream.url}: {error.strerror or error}")
                continue
            writer.close()
            return
        raise UpstreamError("; ".join(failures))

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
