"""Sentry: the envelope endpoint for the SDK's ``tunnel`` option.

``Sentry.init({dsn, tunnel: "/_consent/collect/sentry/"})`` makes the browser SDK post its
envelopes here instead of to Sentry: a JSON header line (``event_id``, ``dsn``, ``sent_at``,
``sdk``), then items, each a JSON header line (``type``, optional ``length``) and a payload.
As in Sentry's own tunnel handler, the DSN in the envelope header must be the configured one
(anything else is refused, so the gateway is no relay for other projects) and the envelope
goes to the configured DSN's host only, never to one the envelope names.

Redaction, in ``event`` and ``transaction`` items: ``user.ip_address`` is the truncated IP
(also where the SDK asked Sentry to infer it: ``{{auto}}``, or ``sdk.settings.infer_ip`` of
``auto`` in SDK 10 and later); ``request.cookies`` and ``request.env`` go; of
``request.headers`` only ``User-Agent`` and ``Referer`` stay, the referrer scrubbed like
every provider's (an external one reduced to its origin); the request URL, its query
string, the URLs of breadcrumbs and of stack frames are scrubbed; messages, exception
values, console breadcrumbs, tags and extra data are scrubbed as free text (``[free_text]``
of rules/analytics.toml). Without analytics consent ``user`` keeps only that IP, sessions
lose their distinct id (``did``) and session replays are not forwarded. Other items pass
unchanged.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from gateway.analytics.base import (
    Answer,
    CollectRequest,
    Hit,
    Ingested,
    ProviderBase,
    Request,
    Result,
    Stored,
    Upstream,
    Visitor,
    count,
    decode_payload,
    gunzip,
    new_hit_id,
    parse_json,
    send_each,
)
from gateway.analytics.redact import Redactor
from gateway.endpoint import ClientError
from gateway.settings.analytics import SentrySettings
from gateway.store import OutboxRow

_REDACTED_TYPES = frozenset({"event", "transaction", "feedback"})
_REPLAY_TYPES = frozenset({"replay_event", "replay_recording", "replay_video"})
_SESSION_TYPES = frozenset({"session", "sessions"})
_KEPT_HEADERS = {"user-agent", "referer"}
_USER_KEPT = ("ip_address",)


def dsn_key(dsn: str) -> tuple[str, str, str, int | None, str] | None:
    """A DSN's parts that identify a project (scheme, key, host, port, project id)."""
    try:
        parts = urlsplit(dsn.strip())
        project = parts.path.rstrip("/").rsplit("/", 1)[-1]
        return (parts.scheme, parts.username or "", parts.hostname or "", parts.port, project)
    except ValueError:
        return None


class Envelope:
    """An envelope split into its header and items (item header, payload bytes)."""

    def __init__(self, header: dict[str, Any], items: list[tuple[dict[str, Any], bytes]]):
        self.header = header
        self.items = items

    @classmethod
    def parse(cls, body: bytes) -> Envelope:
        first, _, rest = body.partition(b"\n")
        header = _json_line(first, "the envelope header")
        items: list[tuple[dict[str, Any], bytes]] = []
        position = 0
        while position < len(rest):
            end = rest.find(b"\n", position)
            line = rest[position:] if end < 0 else rest[position:end]
            position = len(rest) if end < 0 else end + 1
            if not line.strip():
                continue
            item_header = _json_line(line, "an item header")
            length = item_header.get("length")
            if length is not None:
                if not isinstance(length, int) or length < 0 or position + length > len(rest):
                    raise ClientError(
                        400, "an item's length does not fit the envelope", "malformed"
                    )
                payload = rest[position : position + length]
                position += length
                if rest[position : position + 1] == b"\n":
                    position += 1
            else:
                end = rest.find(b"\n", position)
                payload = rest[position:] if end < 0 else rest[position:end]
                position = len(rest) if end < 0 else end + 1
            items.append((item_header, payload))
        return cls(header, items)

    def serialize(self) -> bytes:
        lines = [json.dumps(self.header).encode()]
        for header, payload in self.items:
            if "length" in header:
                header = {**header, "length": len(payload)}
            lines += [json.dumps(header).encode(), payload]
        return b"\n".join(lines) + b"\n"


def _json_line(line: bytes, what: str) -> dict[str, Any]:
    value = parse_json(line, what)
    if not isinstance(value, dict):
        raise ClientError(400, f"{what} is not a JSON object", "malformed")
    return value


class Sentry(ProviderBase[SentrySettings]):
    name = "sentry"

    def __init__(self, settings: SentrySettings, redactor: Redactor, concurrency: int) -> None:
        super().__init__(settings, redactor, concurrency)
        self._dsn = dsn_key(settings.dsn)
        self._url = settings.upstream + "/"

    def route(self, method: str, path: str) -> bool:
        return method == "POST" and path in ("/", "")

    async def ingest(self, request: CollectRequest) -> Ingested:
        body = request.body
        if request.headers.get("content-encoding", "").lower() == "gzip":
            body = gunzip(body, self.settings.body_limit * 4)
        envelope = Envelope.parse(body)
        dsn = envelope.header.get("dsn")
        if not isinstance(dsn, str) or not dsn:
            raise ClientError(400, "the envelope header names no DSN", "malformed")
        if dsn_key(dsn) != self._dsn:
            raise ClientError(403, "this DSN is not tunnelled here", "unknown_site")
        visitor = request.visitor
        redactions: dict[str, int] = {}
        items = []
        for header, payload in envelope.items:
            kind = header.get("type")
            if kind in _REPLAY_TYPES and not visitor.analytics:
                count(redactions, "replays")
                continue
            if kind in _REDACTED_TYPES or (kind in _SESSION_TYPES and not visitor.analytics):
                payload = self._redact_item(kind, payload, visitor, redactions)
            items.append((header, payload))
        envelope.items = items
        event_id = envelope.header.get("event_id")
        hit_id = event_id if isinstance(event_id, str) and _is_event_id(event_id) else new_hit_id()
        data = {"b": base64.b64encode(envelope.serialize()).decode("ascii")}
        response = Answer.json({"id": event_id} if isinstance(event_id, str) else {})
        hits = [Hit(hit_id, data)] if items else []
        return Ingested(hits, response, redactions)

    def _redact_item(
        self, kind: object, payload: bytes, visitor: Visitor, redactions: dict[str, int]
    ) -> bytes:
        document = parse_json(payload, f"a {kind} item")
        if not isinstance(document, dict):
            raise ClientError(400, f"a {kind} item is not a JSON object", "malformed")
        if kind in _SESSION_TYPES:
            if document.pop("did", None) is not None:
                count(redactions, "client_id")
            attributes = document.get("attrs")
            if isinstance(attributes, dict) and attributes.pop("ip_address", None):
                count(redactions, "ip")
        else:
            self._redact_event(document, visitor, redactions)
        return json.dumps(document).encode("utf-8")

    def _redact_event(
        self, event: dict[str, Any], visitor: Visitor, redactions: dict[str, int]
    ) -> None:
        marketing = visitor.marketing
        user = event.get("user")
        sdk = event.get("sdk")
        settings = sdk.get("settings") if isinstance(sdk, dict) else None
        if isinstance(settings, dict) and settings.get("infer_ip") == "auto":
            if visitor.anonymous:
                settings["infer_ip"] = "never"
            else:
                # Sentry would take the address the envelope came from: the gateway's. The
                # visitor's, truncated, is what the SDK meant.
                if not isinstance(user, dict):
                    user = event["user"] = {}
                user.setdefault("ip_address", "{{auto}}")
        if isinstance(user, dict):
            if "ip_address" in user:
                claimed = user.pop("ip_address")
                ip = self.redactor.ip(claimed) if isinstance(claimed, str) else None
                if not visitor.anonymous:
                    user["ip_address"] = ip or visitor.ip
                count(redactions, "ip")
            if not visitor.analytics:
                removed = [key for key in user if key not in _USER_KEPT]
                for key in removed:
                    del user[key]
                count(redactions, "user_id", len(removed))
        request = event.get("request")
        if isinstance(request, dict):
            for key in ("cookies", "env"):
                if request.pop(key, None) is not None:
                    count(redactions, key)
            page = request.get("url") if isinstance(request.get("url"), str) else None
            headers = request.get("headers")
            if isinstance(headers, dict):
                kept = {k: v for k, v in headers.items() if str(k).lower() in _KEPT_HEADERS}
                count(redactions, "headers", len(headers) - len(kept))
                for name, value in list(kept.items()):
                    if not isinstance(value, str):
                        del kept[name]
                    elif name.lower() == "user-agent":
                        kept[name] = visitor.user_agent
                    else:
                        kept[name] = self.redactor.referrer(value, page, marketing) or ""
                        count(redactions, "referrer", kept[name] != value)
                request["headers"] = kept
            if page is not None:
                request["url"] = self.redactor.url(page, marketing)
                count(redactions, "url", request["url"] != page)
            query = request.get("query_string")
            if isinstance(query, str):
                request["query_string"] = self.redactor.scrub_query(query, marketing)
            elif query is not None:
                request.pop("query_string")
        breadcrumbs = event.get("breadcrumbs")
        values = breadcrumbs.get("values") if isinstance(breadcrumbs, dict) else breadcrumbs
        if isinstance(values, list):
            for crumb in values:
                data = crumb.get("data") if isinstance(crumb, dict) else None
                if isinstance(data, dict):
                    for key in ("url", "from", "to"):
                        if isinstance(data.get(key), str):
                            data[key] = self.redactor.url(data[key], marketing)
        for frame in _frames(event):
            for key in ("filename", "abs_path"):  # a browser's: the URL of the script or page
                if isinstance(frame.get(key), str):
                    frame[key] = self.redactor.url(frame[key], marketing)
        self.redactor.scrub_text(self.texts, event, marketing, redactions)

    async def forward(self, upstream: Upstream, rows: Sequence[OutboxRow]) -> list[Result]:
        def build(hit: Stored) -> Request:
            headers = {
                "user-agent": hit.user_agent or "consent-gateway",
                "content-type": "application/x-sentry-envelope",
                "idempotency-key": hit.row.hit_id,
            }
            if hit.ip:
                headers["x-forwarded-for"] = hit.ip
            return Request(self._url, base64.b64decode(hit.data["b"]), headers)

        stored = [decode_payload(row) for row in rows]
        return await send_each(upstream, stored, build, self.concurrency)


def _frames(event: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The stack frames of an event's exceptions."""
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else None
    for value in values if isinstance(values, list) else ():
        stacktrace = value.get("stacktrace") if isinstance(value, dict) else None
        frames = stacktrace.get("frames") if isinstance(stacktrace, dict) else None
        yield from (frame for frame in frames or () if isinstance(frame, dict))


def _is_event_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) in (32, 36)
        and all(c in "0123456789abcdefABCDEF-" for c in value)
    )
