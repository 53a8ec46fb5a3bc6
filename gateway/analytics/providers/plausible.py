"""Plausible: ``POST /api/event`` as the official tracker sends it.

The tracker (``@plausible-analytics/tracker``, and ``script.js`` with ``data-api``) posts
``text/plain`` JSON with short keys: ``n`` name, ``u`` URL, ``d`` domain, ``r`` referrer,
``p`` props, ``h`` hash routing, ``i`` interactive, ``$`` revenue, ``v`` version, and for
engagement events ``sd`` scroll depth and ``e`` engaged time. The long names (``name``,
``url``...) of the Events API are accepted too. Plausible is cookieless by design: it
counts visitors with its own daily-salted hash of the IP and User-Agent it receives, so the
gateway forwards the truncated IP (``X-Forwarded-For``) and the User-Agent, and there is no
client id to replace. Keys the API does not define are not forwarded.
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
from gateway.settings.analytics import PlausibleSettings
from gateway.store import OutboxRow

_SHORT = {"name": "n", "url": "u", "domain": "d", "referrer": "r", "props": "p"}
OK = Answer.text("ok", 202)  # what Plausible answers
_PASSED = {"n", "u", "d", "r", "p", "h", "i", "$", "v", "sd", "e", "revenue", "interactive"}


class Plausible(ProviderBase[PlausibleSettings]):
    name = "plausible"

    def __init__(self, settings: PlausibleSettings, redactor: Redactor, concurrency: int) -> None:
        super().__init__(settings, redactor, concurrency)
        self._url = settings.upstream + "/api/event"

    def route(self, method: str, path: str) -> bool:
        return method == "POST" and path in ("/api/event", "/api/event/")

    async def ingest(self, request: CollectRequest) -> Ingested:
        data = parse_json(request.body)
        if not isinstance(data, dict):
            raise ClientError(400, "send a JSON object with name, url and domain", "malformed")
        event: dict[str, Any] = {}
        for key, value in data.items():
            short = _SHORT.get(key, key)
            if short in _PASSED:
                event[short] = value
        name, url, domain = event.get("n"), event.get("u"), event.get("d")
        if not (isinstance(name, str) and name and isinstance(url, str) and url):
            raise ClientError(400, "name and url must be non-empty strings", "malformed")
        if not (isinstance(domain, str) and domain):
            raise ClientError(400, "domain must be a non-empty string", "malformed")
        if self.settings.site_ids and not set(domain.split(",")) <= set(self.settings.site_ids):
            raise ClientError(403, f"domain {domain!r} is not collected here", "unknown_site")
        marketing = request.visitor.marketing
        redactions: dict[str, int] = {}
        scrubbed = self.redactor.url(url, marketing)
        count(redactions, "url", scrubbed != url)
        event["u"] = scrubbed
        referrer = event.get("r")
        if isinstance(referrer, str):
            event["r"] = self.redactor.referrer(referrer, url, marketing)
            count(redactions, "referrer", event["r"] != referrer)
        elif referrer is not None:
            event["r"] = None
        if "p" in event and not isinstance(event["p"], dict):
            del event["p"]
        self.redactor.scrub_text(self.texts, event, marketing, redactions)
        hit = Hit(new_hit_id(), event)
        return Ingested([hit], OK, redactions)

    async def forward(self, upstream: Upstream, rows: Sequence[OutboxRow]) -> list[Result]:
        def build(hit: Stored) -> Request:
            return Request(self._url, json_body(hit.data), forwarded_headers(hit))

        stored = [decode_payload(row) for row in rows]
        return await send_each(upstream, stored, build, self.concurrency)
