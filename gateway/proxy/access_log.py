"""``serve``'s access log: one line per request that a privacy policy can live with.

What a line holds: the client's address truncated to its network as analytics truncates it
(unless ``access_log_full_addresses``), the request line with its query string scrubbed of
the parameters ``rules/analytics.toml`` lists as personal and of click ids (the referrer's
too), the status and body bytes sent, the User-Agent, the upstream's status and the time to
its response head (``-`` for what the gateway answered itself), and the request's total
time. Never a cookie, never ``Authorization``. ``combined`` is nginx's and Apache's format
with those three fields appended; ``json`` is one object a line.

Two ASGI wrappers share one ``Entry`` per request through ``scope["state"]``: ``around``
(outside the middleware) sees what the client got and the total time, ``upstream`` (around
the proxy) the resolved client and the upstream's answer. Lines are buffered and written
every ``FLUSH_SECONDS``, in writes of whole lines no larger than a pipe writes at once, so
worker processes sharing standard output never interleave within a line.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import time
from collections.abc import Awaitable
from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.analytics.redact import RedactionRules, Redactor
from gateway.proxies import TrustedProxies
from gateway.ruleset import RuleSet
from gateway.settings import Settings

KEY = "consent_gateway.access_log"  # the request's Entry, in scope["state"]
FLUSH_SECONDS = 0.25
FLUSH_BYTES = 64 * 1024  # written at once beyond this, timer or not
PIPE_BUF = select.PIPE_BUF  # a write this large to a pipe is never interleaved with another
MAX_ADDRESSES = 4096  # truncated addresses remembered
_JSON = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps builds one a call
_PRINTABLE = frozenset(range(0x20, 0x7F)) - {ord('"'), ord("\\")}


class Entry:
    """What the proxy learns about one request: the client (resolved from trusted proxies)
    and the upstream's answer."""

    __slots__ = ("client", "upstream_seconds", "upstream_status")

    def __init__(self) -> None:
        self.client: str | None = None
        self.upstream_status: int | None = None
        self.upstream_seconds = 0.0


class AccessLog:
    """The log of one worker process, writing to ``fd`` (standard output)."""

    def __init__(
        self,
        kind: Literal["combined", "json"],
        redactor: Redactor,
        proxies: TrustedProxies,
        *,
        full_addresses: bool = False,
        fd: int = 1,
    ) -> None:
        self.kind = kind
        self.redactor = redactor
        self.proxies = proxies if proxies else None
        self.full_addresses = full_addresses
        self.fd = fd
        self._lines: list[str] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._addresses: dict[str, str] = {}
        self._pattern = "%Y-%m-%dT%H:%M:%S%z" if kind == "json" else "%d/%b/%Y:%H:%M:%S %z"
        self._second = -1
        self._stamp = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessLog | None:
        """The log the settings ask for, or None (``access_log = "off"``)."""
        if settings.access_log == "off":
            return None
        analytics = settings.analytics
        redactor = Redactor(
            RedactionRules.load(),
            ipv4_prefix=analytics.ipv4_prefix,
            ipv6_prefix=analytics.ipv6_prefix,
        )
        proxies = TrustedProxies(settings.trusted_proxies, settings.proxy_headers)
        return cls(
            settings.access_log,
            redactor,
            proxies,
            full_addresses=settings.access_log_full_addresses,
        )

    def use_rules(self, rules: RuleSet) -> None:
        """The redaction lists of rules read again (``Gateway.rules_listeners``)."""
        self.redactor.rules = rules.redaction

    def around(self, app: ASGIApp) -> ASGIApp:
        """``app`` (the middleware) logging each HTTP request once it is answered."""

        async def logged(scope: Scope, receive: Receive, send: Send) -> None:
            kind = scope["type"]
            if kind == "lifespan":
                await app(scope, receive, self._flush_at_shutdown(send))
                return
            if kind != "http":
                await app(scope, receive, send)
                return
            entry = Entry()
            state = scope.get("state")
            if state is None:
                scope = {**scope, "state": {}}
                state = scope["state"]
            state[KEY] = entry
            status = 0
            sent = 0

            def counted(message: Message) -> Awaitable[None]:
                nonlocal status, sent
                if message["type"] == "http.response.body":
                    sent += len(message.get("body", b""))
                elif message["type"] == "http.response.start":
                    status = message["status"]
                return send(message)

            began = time.perf_counter()
            try:
                await app(scope, receive, counted)
            finally:
                self.write(scope, entry, status, sent, time.perf_counter() - began)

        return logged

    def upstream(self, app: ASGIApp) -> ASGIApp:
        """``app`` (the proxy) noting its client and its answer's status and time."""

        async def noted(scope: Scope, receive: Receive, send: Send) -> None:
            state = scope.get("state")
            entry = state.get(KEY) if state is not None else None
            if not isinstance(entry, Entry):
                await app(scope, receive, send)
                return
            client = scope.get("client")
            entry.client = str(client[0]) if client else None
            began = time.perf_counter()

            def timed(message: Message) -> Awaitable[None]:
                if message["type"] == "http.response.start" and entry.upstream_status is None:
                    entry.upstream_status = message["status"]
                    entry.upstream_seconds = time.perf_counter() - began
                return send(message)

            await app(scope, receive, timed)

        return noted

    def write(self, scope: Scope, entry: Entry, status: int, sent: int, seconds: float) -> None:
        """Buffer the line of one request."""
        address = entry.client
        if address is None:  # answered before the proxy: the API, a 431
            resolved = self.proxies.resolve(scope) if self.proxies is not None else scope
            client = resolved.get("client")
            address = str(client[0]) if client else None
        referer = user_agent = None
        for name, value in scope["headers"]:
            if name == b"referer":
                referer = value.decode("latin-1")
            elif name == b"user-agent":
                user_agent = value.decode("latin-1")
        target = self._target(scope)
        if referer:
            referer = self.redactor.url(referer, False) or "[redacted]"
        if self.kind == "json":
            line = _JSON.encode(
                {
                    "time": self._time(),
                    "client": self._address(address),
                    "method": scope["method"],
                    "target": target,
                    "protocol": "HTTP/" + scope.get("http_version", "1.1"),
                    "status": status or None,
                    "bytes": sent,
                    "referer": referer,
                    "user_agent": user_agent,
                    "upstream_status": entry.upstream_status,
                    "upstream_time": (
                        round(entry.upstream_seconds, 6) if entry.upstream_status else None
                    ),
                    "request_time": round(seconds, 6),
                }
            )
        else:
            upstream = (
                f"{entry.upstream_status} {entry.upstream_seconds:.3f}"
                if entry.upstream_status
                else "- -"
            )
            line = (
                f"{self._address(address) or '-'} - - [{self._time()}] "
                f'"{_escaped(scope["method"])} {_escaped(target)} '
                f'HTTP/{scope.get("http_version", "1.1")}" {status or "-"} {sent} '
                f'"{_escaped(referer or "-")}" "{_escaped(user_agent or "-")}" '
                f"{upstream} {seconds:.3f}"
            )
        self._lines.append(line + "\n")
        self._size += len(line) + 1
        if self._size >= FLUSH_BYTES:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Write the buffered lines, in writes of whole lines of at most ``PIPE_BUF`` bytes
        (a longer line alone)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        lines, self._lines, self._size = self._lines, [], 0
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            data = line.encode("utf-8", "backslashreplace")
            if chunk and size + len(data) > PIPE_BUF:
                self._write_all(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(data)
            size += len(data)
        if chunk:
            self._write_all(b"".join(chunk))

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError:
            pass  # standard output is gone: the log is lost, requests go on

    def _flush_at_shutdown(self, send: Send) -> Send:
        async def flushing(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                self.flush()
            await send(message)

        return flushing

    def _target(self, scope: Scope) -> str:
        """The request target, its query string scrubbed; ``[redacted]`` for a path that
        holds an e-mail address."""
        raw = scope.get("raw_path")
        path: str = raw.decode("latin-1") if raw else scope["path"]
        query: bytes = scope.get("query_string", b"")
        if not query and "@" not in path:
            return path
        target = path + "?" + query.decode("latin-1") if query else path
        scrubbed = self.redactor.url(target, False)
        if not scrubbed:
            return "[redacted]"
        return scrubbed.removesuffix("?")

    def _address(self, address: str | None) -> str | None:
        if address is None or self.full_addresses:
            return address
        found = self._addresses.get(address)
        if found is None:
            if len(self._addresses) >= MAX_ADDRESSES:
                self._addresses.clear()
            found = self.redactor.ip(address) or "-"
            self._addresses[address] = found
        return found

    def _time(self) -> str:
        """The local time as the format writes it, formatted once a second."""
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._stamp = time.strftime(self._pattern, time.localtime(second))
        return self._stamp


def _escaped(text: str) -> str:
    """``text`` as nginx writes a logged string: ``"``, ``\\`` and bytes outside printable
    ASCII as ``\\xHH``, so that no value can end the field or forge a line."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return "".join(
        c if ord(c) in _PRINTABLE else "".join(f"\\x{b:02X}" for b in c.encode("utf-8"))
        for c in text
    )
