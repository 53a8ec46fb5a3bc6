"""Umami: ``POST /api/send`` as the tracker script (``data-host-url``) sends it.

The body is ``{"type": "event" | "identify", "payload": {website, hostname, screen,
language, title, url, referrer, tag, id, name, data}}``. Umami identifies sessions itself,
from a hash of website, IP and User-Agent, so the gateway forwards the truncated IP
(``X-Forwarded-For``) and the User-Agent. Without analytics consent the distinct ``id`` and
``identify`` calls (session data about a person) never leave the gateway. Umami answers
with a signed ``cache`` token that the tracker echoes in ``x-umami-cache``; the gateway
answers before forwarding, so it has none to give, and it never forwards one (the token
names the session).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    claimed_visitor,
    count,
    decode_payload,
    forwarded_headers,
    json_body,
    new_hit_id,
    parse_json,
    send_each,
)
from gateway.analytics.redact import Redactor
from gateway.endpoint import ClientError
from gateway.settings.analytics import UmamiSettings
from gateway.store import OutboxRow

_PAYLOAD_KEYS = {
    "website", "hostname", "screen", "language", "title", "url", "referrer", "tag", "id",
    "name", "data", "timestamp",
}  # fmt: skip


class Umami(ProviderBase[UmamiSettings]):
    name = "umami"
    claims_agent = True  # ``payload.userAgent``, as @umami/node can send it

    def __init__(self, settings: UmamiSettings, redactor: Redactor, concurrency: int) -> None:
        super().__init__(settings, redactor, concurrency)
        self._url = settings.upstream + "/api/send"

    def route(self, method: str, path: str) -> bool:
        return method == "POST" and path in ("/api/send", "/api/send/")

    async def ingest(self, request: CollectRequest) -> Ingested:
        data = parse_json(request.body)
        if not isinstance(data, dict) or not isinstance(data.get("payload"), dict):
            raise ClientError(400, 'send {"type": "event", "payload": {...}}', "malformed")
        kind = data.get("type")
        if kind not in ("event", "identify"):
            raise ClientError(400, 'type must be "event" or "identify"', "malformed")
        payload: dict[str, Any] = {k: v for k, v in data["payload"].items() if k in _PAYLOAD_KEYS}
        website = payload.get("website")
        if not isinstance(website, str) or not website:
            raise ClientError(400, "payload.website must be the website id", "malformed")
        if self.settings.site_ids and website not in self.settings.site_ids:
            raise ClientError(403, f"website {website!r} is not collected here", "unknown_site")
        visitor = claimed_visitor(request.visitor, data["payload"].get("userAgent"), self.redactor)
        redactions: dict[str, int] = {}
        response = Answer.json({})
        if not visitor.analytics:
            if kind == "identify":
                count(redactions, "identify")
                return Ingested([], response, redactions)
            if payload.pop("id", None) is not None:
                count(redactions, "distinct_id")
        url = payload.get("url")
        hostname = payload.get("hostname")
        page = None
        if isinstance(url, str):
            page = url if "://" in url else f"https://{hostname or 'localhost'}{url}"
            payload["url"] = self.redactor.url(url, visitor.marketing)
            count(redactions, "url", payload["url"] != url)
        referrer = payload.get("referrer")
        if isinstance(referrer, str) and referrer:
            payload["referrer"] = self.redactor.referrer(referrer, page, visitor.marketing)
            count(redactions, "referrer", payload["referrer"] != referrer)
        event = {"type": kind, "payload": payload}
        self.redactor.scrub_text(self.texts, event, visitor.marketing, redactions)
        hit = Hit(new_hit_id(), event, visitor)
        return Ingested([hit], response, redactions)

    async def forward(self, upstream: Upstream, rows: Sequence[OutboxRow]) -> list[Result]:
        def build(hit: Stored) -> Request:
            return Request(self._url, json_body(hit.data), forwarded_headers(hit))

        stored = [decode_payload(row) for row in rows]
        return await send_each(upstream, stored, build, self.concurrency)
