"""One HTTP/1.1 connection to an upstream: an asyncio protocol that writes a request and
hands out the response as events, with llhttp (``httptools.HttpResponseParser``) reading it.

llhttp is strict where a proxy must be: it rejects a second ``Content-Length``, a
``Content-Length`` beside ``Transfer-Encoding``, bad chunk sizes and bad status lines, so a
malformed or smuggled response ends in ``UpstreamError`` (a 502), never in bytes passed on.
Both directions are bounded: reading pauses while more than ``HIGH_WATER`` bytes of body wait
for the client, and writing waits while the socket's buffer is full.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Literal, cast

import httptools

HIGH_WATER = 256 * 1024  # bytes of response body held before reading from the upstream pauses
LOW_WATER = 64 * 1024  # reading resumes below this
# The most a response's status line and headers may take (nginx's proxy_buffer_size is 4 or
# 8 KiB; a site may send thousands of Set-Cookie lines): beyond, a 502, not memory held.
MAX_HEAD = 1024 * 1024
TICK = 0.1  # seconds between two checks of the waits for the upstream (``Waits``)
Event = tuple[Literal["start"], int, list[tuple[bytes, bytes]]] | tuple[Literal["body"], bytes]


class UpstreamError(Exception):
    """The upstream refused, reset, or answered something that is not HTTP/1.1."""


class UpstreamTimeout(UpstreamError):
    """The upstream sent nothing for ``upstream_read_timeout`` seconds."""


class ClientGone(Exception):
    """The client went away: the upstream request is cancelled."""


class Waits:
    """The connections of one event loop waiting for a byte from their upstream, and one
    timer for all of them, every ``TICK`` seconds while any waits: a timer for each wait
    (``call_later``, then ``cancel``) cost some 2% of a small request. A wait times out
    within ``TICK`` seconds after its ``read_timeout``."""

    __slots__ = ("_since", "_timer", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._since: dict[UpstreamConnection, float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, connection: UpstreamConnection) -> None:
        self._since[connection] = self.loop.time()
        if self._timer is None:
            self._timer = self.loop.call_later(TICK, self._tick)

    def discard(self, connection: UpstreamConnection) -> None:
        self._since.pop(connection, None)

    def _tick(self) -> None:
        now = self.loop.time()
        for connection, since in list(self._since.items()):
            if now - since >= connection.read_timeout:
                del self._since[connection]
                connection.timed_out()
        self._timer = self.loop.call_later(TICK, self._tick) if self._since else None


class UpstreamConnection(asyncio.Protocol):
    """A keep-alive connection; one request at a time (no pipelining)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, read_timeout: float, waits: Waits | None = None
    ) -> None:
        self.loop = loop  # asyncio.get_running_loop() makes a getpid() system call (3.11)
        self._loop = loop
        self._read_timeout = self.read_timeout = read_timeout
        self._waits = waits if waits is not None and waits.loop is loop else Waits(loop)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._error: BaseException | None = None
        self._events: deque[Event] = deque()
        self._buffered = 0
        self._reading_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._write_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._parser = httptools.HttpResponseParser(self)
        self._headers: list[tuple[bytes, bytes]] = []
        self._head = False  # the request is HEAD: the response has no body, whatever it says
        self._until_close = False  # the body ends when the connection does
        self.complete = False  # the whole response was read
        self.received = 0  # bytes read from the upstream for the current request
        self.reusable = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        if self._head and self.complete and self._error is None:
            return  # a body sent after a HEAD response: the connection is not reused anyway
        if self.complete or self._error is not None:
            # Bytes after the response (no request asked for them): never passed on.
            self._fail(UpstreamError("the upstream sent data after its response"))
            return
        if not self._started and self.received > MAX_HEAD:
            self._fail(UpstreamError(f"the upstream's response head is over {MAX_HEAD} bytes"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # 101 Switching Protocols, though the gateway asks for no upgrade (not yet).
            self._fail(UpstreamError("the upstream switched protocols"))
            return
        except httptools.HttpParserError as error:
            self._fail(UpstreamError(f"malformed response from the upstream: {error}"))
            return
        if self._buffered > HIGH_WATER and not self._reading_paused and self.transport:
            self._reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if not self.complete and self._error is None:
            if self._until_close and self._started:
                self.complete = True  # a body without length ends with the connection
            else:
                reason = f": {exc}" if exc else ""
                self._error = UpstreamError(f"the upstream closed the connection{reason}")
        self._wake()
        if self._write_waiter is not None and not self._write_waiter.done():
            self._write_waiter.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._write_waiter is not None and not self._write_waiter.done():
            self._write_waiter.set_result(None)

    # httptools callbacks
    _started = False  # the final response's head was parsed
    _handed_start = False  # and handed out: from now on a failure truncates the response
    _status = 0

    def on_message_begin(self) -> None:
        if self.complete:
            raise UpstreamError("the upstream sent a second response")
        self._headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            return  # 100 Continue and other interim responses: the client gets the final one
        self._status = status
        self._started = True
        framed = False  # a loop, not any() over a generator: this runs for every response
        for name, _ in self._headers:
            if name == b"content-length" or name == b"transfer-encoding":
                framed = True
                break
        self._until_close = not framed and not self._head and status not in (204, 304)
        self._push(("start", status, self._headers))
        if self._head:
            # llhttp would wait for the body a Content-Length announces: the response is
            # over, and the connection is not reused (its parser expects that body).
            self.complete = True
            self.reusable = False
            self._wake()

    def on_body(self, body: bytes) -> None:
        if self._head or not self._started:
            return
        self._buffered += len(body)
        self._push(("body", body))

    def on_message_complete(self) -> None:
        if not self._started or self._head:
            return
        self.complete = True
        self.reusable = self._parser.should_keep_alive() and not self._until_close
        self._wake()

    # the proxy's side
    def begin(self, head: bool) -> None:
        """Get ready for a new request's response."""
        self._head = head
        self._started = self._handed_start = False
        self.complete = False
        self.reusable = False
        self.received = 0
        self._events.clear()
        self._buffered = 0

    async def write(self, data: bytes) -> None:
        """Write ``data``, waiting while the socket's buffer is full (``UpstreamTimeout``
        after ``read_timeout`` seconds of that)."""
        if self._error is not None:
            raise self._error
        if self.closed or self.transport is None:
            raise UpstreamError("the upstream closed the connection")
        self.transport.write(data)
        if self._write_paused:
            # An upstream that stops reading the body times out as one that stops answering.
            self._write_waiter = self._loop.create_future()
            timer = self._loop.call_later(self._read_timeout, self._timed_out)
            try:
                await self._write_waiter
            finally:
                timer.cancel()
                self._write_waiter = None
            if self._error is not None:
                raise self._error

    async def next_event(self) -> Event | None:
        """The next part of the response; None once it is complete. Raises ``UpstreamError``
        (``UpstreamTimeout`` after ``read_timeout`` seconds without a byte)."""
        while not self._events:
            if self.complete:
                return None
            if self._error is not None:
                raise self._error
            self._waiter = self._loop.create_future()
            self._waits.add(self)
            try:
                await self._waiter
            finally:
                self._waits.discard(self)
                self._waiter = None
        event = self._events.popleft()
        if event[0] == "start":
            self._handed_start = True
        elif event[0] == "body":
            self._buffered -= len(event[1])
            if self._reading_paused and self._buffered < LOW_WATER and self.transport:
                self._reading_paused = False
                self.transport.resume_reading()
        return event

    def answered(self) -> bool:
        """Whether the response's head arrived (the request may still be going out)."""
        return self._started and not self._handed_start and bool(self._events)

    def finished(self) -> bool:
        """Whether the response was read whole and handed out."""
        return self.complete and not self._events

    def abort(self, error: BaseException) -> None:
        """Give up on the request (``ClientGone``): the connection closes, never reused."""
        self._fail(error)

    def close(self) -> None:
        self.closed = True
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def timed_out(self) -> None:
        """The upstream sent nothing for ``read_timeout`` seconds (``Waits``)."""
        self._timed_out()

    def _timed_out(self) -> None:
        seconds = f"{self._read_timeout:g}"
        self._fail(UpstreamTimeout(f"the upstream sent nothing for {seconds} seconds"))

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        if not self._handed_start and isinstance(error, UpstreamError):
            # A response that turns out malformed before the client saw any of it: a 502.
            self._events.clear()
            self.complete = False
        self.reusable = False
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        self._wake()
        if self._write_waiter is not None and not self._write_waiter.done():
            self._write_waiter.set_result(None)

    def _push(self, event: Event) -> None:
        self._events.append(event)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
