"""How ``consent-gateway demo`` runs uvicorn: its own reading of ``X-Forwarded-For`` off
(the gateway reads it from ``trusted_proxies`` only), and request heads bounded.

uvicorn with httptools accepts a request line and headers of any size, and keeps a header
whole in memory until it ends: a client could send a 1 MB Cookie header on every request,
or one header without end. ``demo`` answers 431 (Request Header Fields Too Large) to a
request line and headers over ``max_header_bytes`` together, as Node.js does at 16 KiB
(uvicorn's h11 stops there too, with a 400; nginx takes lines of up to 8 KiB, 32 KiB in all).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG, STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.supervisors.multiprocess import Multiprocess

logger = logging.getLogger("uvicorn.error")


class _HeadTooLarge(Exception):
    """Raised in a parser callback: the parser stops, and uvicorn calls send_400_response."""


class HeadWithBody:
    """The transport one request's cycle writes to: the response head, which uvicorn writes
    on ``http.response.start``, is held until the first piece of body, so that both go out
    in one write (each socket write is a good part of a small response's cost), and at
    the latest until the end of the event loop's turn (a stream's head is not delayed)."""

    __slots__ = ("_cycle", "_held", "_loop", "_started", "_transport")

    def __init__(
        self,
        transport: asyncio.Transport,
        cycle: RequestResponseCycle,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._transport = transport
        self._cycle = cycle
        self._loop = loop
        self._held: bytes | None = None
        self._started = False  # the head went by (a 100 Continue before it is not held)

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if len(data) < 16384:
                self._transport.write(held + data)  # a copy is cheaper than a writev's set-up
            else:
                self._transport.writelines((held, data))
        elif not self._started and self._cycle.response_started:
            self._started = True
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Write the held head (no body followed it within the loop's turn)."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def close(self) -> None:
        self.flush()
        self._transport.close()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering 431 to a request head over ``max_head_bytes``.

    The request line and each header are counted as the parser completes them; a header
    still in progress is counted by the bytes received while the head stays incomplete, so
    an endless one is cut off within one read of the limit."""

    max_head_bytes = 16 * 1024
    _head_bytes = 0  # the request line and headers parsed so far
    _reading_head = False
    _reads = 0  # reads of this connection
    _head_read = 0  # the read in which the current head began
    _head_received = 0  # bytes of later reads, all part of the head still incomplete
    _too_large = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._head_received = 0
        self._head_read = self._reads
        self._reading_head = True

    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        if self._head_bytes > self.max_head_bytes:
            self._head_too_large()
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._head_bytes > self.max_head_bytes:
            self._head_too_large()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.transport is self.transport:  # a new request's
            # (no typing.cast: a function call for every request)
            cycle.transport = HeadWithBody(self.transport, cycle, self.loop)  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._reads += 1
        super().data_received(data)
        if self._reading_head and self._head_read != self._reads and not self._too_large:
            self._head_received += len(data)
            if self._head_received > self.max_head_bytes:
                self._too_large = True
                self._send_431()

    def _head_too_large(self) -> None:
        self._too_large = True
        raise _HeadTooLarge

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request the parser gave up on."""
        if self._too_large:
            self._send_431()
        else:
            super().send_400_response(msg)

    def _send_431(self) -> None:
        text = f"The request line and headers may be at most {self.max_head_bytes} bytes.\n"
        head = [STATUS_LINE[431]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(
            b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n" % len(text)
        )
        self.transport.write(b"".join(head) + text.encode("ascii"))
        self.transport.close()


def options(max_header_bytes: int) -> dict[str, Any]:
    """uvicorn's options for the gateway's own server:
    ``uvicorn.run(app, host=..., port=..., **options(n))``."""

    class Protocol(BoundedHttpToolsProtocol):
        max_head_bytes = max_header_bytes

    return {
        "log_level": "info",
        "log_config": log_config(),
        "proxy_headers": False,
        "http": Protocol,
    }


def log_config() -> dict[str, Any]:
    """uvicorn's logging, with the gateway's own lines (``consent_gateway``: rules
    reloaded, the metrics listener, the proxy's errors) written the same way, from INFO."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["consent_gateway"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    return config


def serve_options(max_header_bytes: int) -> dict[str, Any]:
    """``options`` for ``consent-gateway serve``, whose own access log (``access_log``)
    replaces uvicorn's: uvicorn's would write every client's full address once more."""
    return {**options(max_header_bytes), "access_log": False}


class Server(uvicorn.Server):
    """uvicorn's server, exiting with status 0 after a shutdown SIGTERM asked for.

    On SIGTERM uvicorn stops listening, lets the requests in flight finish, runs the
    lifespan shutdown (the gateway's ``aclose``), then raises the signal again, so that the
    process dies of it (exit status 143). For the gateway SIGTERM is the normal end (a
    container stopped, a deploy rolling on): an orderly stop exits 0."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals = [s for s in self._captured_signals if s != signal.SIGTERM]


class Supervisor(Multiprocess):
    """uvicorn's supervisor of worker processes, which closes its own copy of the listening
    socket on SIGTERM: new connections are refused at once, not left waiting in the queue
    until every worker has drained its requests."""

    def handle_term(self) -> None:
        for sock in self.sockets:
            sock.close()
        super().handle_term()

    def handle_hup(self) -> None:
        """SIGHUP reads the rules again in every worker (each worker's gateway handles it),
        instead of uvicorn's restart of every worker."""
        logger.info("Received SIGHUP, reloading the rules in every worker.")
        for process in self.processes:
            if process.pid is not None:
                # One that just ended is started again by the supervisor, with the new rules.
                with suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGHUP)


def run(config: uvicorn.Config) -> int:
    """Serve ``config`` as ``uvicorn.run`` does (``workers`` processes under a supervisor, or
    the server in this process), exiting 0 after SIGTERM; the exit status."""
    server = Server(config)
    try:
        if config.workers > 1:
            Supervisor(config, sockets=[config.bind_socket()]).run()
            return 0
        server.run()
    except KeyboardInterrupt:  # Ctrl-C, raised again once the server stopped
        pass
    return 0 if server.started else STARTUP_FAILURE
