"""Apps the collection benchmarks serve under uvicorn (``benchmarks.collect_apps:<name>``):

- ``gateway``: ConsentMiddleware with its settings from ``CONSENT_GATEWAY_*`` (analytics
  providers, SQLite outbox), in front of an app that is never reached;
- ``standin``: a provider's collection server that answers 200 at once and counts the hits it
  received (PostHog ``/batch/`` bodies by their events), ``GET /count`` tells;
- ``baseline``: uvicorn answering 202 to any POST after reading the body, nothing else:
  the ceiling of one worker on this machine.
"""

from __future__ import annotations

import json
import os
from typing import Any

from gateway import ConsentMiddleware, Settings

Scope = dict[str, Any]


async def _not_reached(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


_received = 0


async def standin(scope: Scope, receive: Any, send: Any) -> None:
    global _received
    if scope["type"] != "http":
        return
    body = await _body(receive)
    if scope["method"] == "GET":
        answer = json.dumps({"count": _received}).encode()
    else:
        _received += len(json.loads(body)["batch"]) if scope["path"] == "/batch/" else 1
        answer = b"{}"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": answer})


async def baseline(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await _body(receive)
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


gateway = (
    ConsentMiddleware(_not_reached, Settings.load())
    if os.environ.get("CONSENT_GATEWAY_ANALYTICS")
    else None
)
