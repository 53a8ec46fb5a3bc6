"""A provider's collection server on loopback, standing in for GA4, Matomo, Plausible, Umami,
PostHog or Sentry: it records every request it receives and answers with a chosen status.
It can be stopped and started again on the same port (a provider outage)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import uvicorn

from tests.support.servers import free_port


@dataclass
class Received:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> list[tuple[str, str]]:
        return parse_qsl(self.body.decode(), keep_blank_values=True)

    @property
    def params(self) -> dict[str, str]:
        """Query and form parameters together (the last value of a name wins)."""
        pairs = list(self.query)
        if self.headers.get("content-type", "").startswith("application/x-www-form"):
            pairs += self.form()
        return dict(pairs)


class StandIn:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status = 200
        self.delay = 0.0  # seconds before answering: keeps requests in flight
        self.port = free_port()
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                while (message := await receive())["type"] != "lifespan.shutdown":
                    await send({"type": message["type"] + ".complete"})
                await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status = self.status
        if status < 300:
            with self._lock:
                self.received.append(
                    Received(
                        scope["method"],
                        scope["path"],
                        parse_qsl(scope["query_string"].decode(), keep_blank_values=True),
                        {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]},
                        body,
                    )
                )
        if self.delay:
            await asyncio.sleep(self.delay)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    def start(self) -> StandIn:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            interface="asgi3",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the stand-in did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = None

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 30) -> None:
        """Until ``predicate(received)`` holds; an AssertionError naming what arrived if not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(list(self.received)):
                    return
            time.sleep(0.02)
        raise AssertionError(f"the stand-in received only {self.received!r}")

    def wait_count(self, count: int, timeout: float = 30) -> list[Received]:
        self.wait_for(lambda received: len(received) >= count, timeout)
        return list(self.received)
