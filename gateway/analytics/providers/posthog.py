"""PostHog: ``/i/v0/e/``, ``/e/``, ``/batch/`` and ``/capture/`` as posthog-js sends them.

With ``api_host`` pointing here, posthog-js posts events to ``/e/`` (``/i/v0/e/`` in newer
setups): JSON, or gzip with ``?compression=gzip-js`` (a ``text/plain`` body), or, with
``sendBeacon`` on page unload, ``?compression=base64`` and a form body ``data=<base64>``.
A body is one event, a list of events, or ``{"api_key", "batch": [...]}``; each event has
``event``, ``properties`` (``token``, ``distinct_id``, ``$device_id``, ``$session_id``,
``$current_url``...), ``uuid`` and ``timestamp``.

Each event is one hit whose id is the event's own ``uuid`` (PostHog deduplicates on it), so
a hit sent twice after a crash is recognisably the same event. Redaction: ``$ip`` is the
truncated IP; ``$current_url``, ``$pathname``, ``$referrer`` and their ``$initial_`` and
``$session_entry_`` copies are scrubbed; custom properties, and the texts autocapture and
exception capture take from the page, are scrubbed as free text (``[free_text]`` of
rules/analytics.toml).
Without analytics consent (PostHog's own cookieless mode works the same way) ``distinct_id``
is the day's visitor hash, ``$process_person_profile`` is false, and ``$device_id``,
``$session_id``, ``$window_id``, ``$anon_distinct_id``, ``$user_id``, ``$set``,
``$set_once``, ``$groups`` are removed; events about a person (``$identify``,
``$create_alias``, ``$set``, ``$groupidentify``, ``$merge_dangerously``) and session
recordings (``$snapshot``) are not forwarded. Without marketing consent the click ids
captured as properties (``gclid``, ``$initial_gclid``, ``$session_entry_gclid``...) go.

Forwarding: ``POST /batch/`` with up to ``forward_batch_size`` events per request and key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.analytics.base import (
    Answer,
    CollectRequest,
    Hit,
    Ingested,
    Outcome,
    ProviderBase,
    Request,
    Result,
    Upstream,
    Visitor,
    claimed_visitor,
    count,
    decode_payload,
    decode_text,
    gunzip,
    json_body,
    new_hit_id,
    parse_json,
    parse_query,
    send_one,
    stable_id,
    unbase64,
)
from gateway.analytics.redact import Redactor
from gateway.endpoint import ClientError
from gateway.settings.analytics import PostHogSettings
from gateway.store import OutboxRow

PATHS = frozenset(
    {"/i/v0/e/", "/i/v0/e", "/e/", "/e", "/batch/", "/batch", "/capture/", "/capture"}
)
PERSON_EVENTS = frozenset(
    {"$identify", "$create_alias", "$set", "$groupidentify", "$merge_dangerously", "$snapshot"}
)
_IDENTIFYING = (
    "$device_id", "$session_id", "$window_id", "$anon_distinct_id", "$user_id", "$set",
    "$set_once", "$unset", "$groups", "$initial_person_info", "$sesid", "$user_state",
)  # fmt: skip
# posthog-js copies the page and referrer into the first values of the person
# ($initial_...) and of the session ($session_entry_...).
_URL_PROPERTIES = (
    "$current_url", "$initial_current_url", "$session_entry_url", "$pathname",
    "$initial_pathname", "$session_entry_pathname", "$prev_pageview_pathname",
)  # fmt: skip
_REFERRER_PROPERTIES = ("$referrer", "$initial_referrer", "$session_entry_referrer")
MAX_EVENTS = 1000
OK = Answer.json({"status": 1})  # what PostHog answers


class PostHog(ProviderBase[PostHogSettings]):
    name = "posthog"
    claims_agent = True  # ``$raw_user_agent``, what PostHog's own bot filter reads

    def __init__(self, settings: PostHogSettings, redactor: Redactor, concurrency: int) -> None:
        super().__init__(settings, redactor, concurrency)
        self._limit = settings.body_limit

    def route(self, method: str, path: str) -> bool:
        return method == "POST" and path in PATHS

    async def ingest(self, request: CollectRequest) -> Ingested:
        document = self._decode(request)
        top_key: Any = None
        if isinstance(document, dict) and "batch" in document:
            top_key = document.get("api_key") or document.get("token")
            events = document["batch"]
        elif isinstance(document, list):
            events = document
        else:
            events = [document]
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
            raise ClientError(400, f"send 1 to {MAX_EVENTS} events", "malformed")
        redactions: dict[str, int] = {}
        hits = []
        for event in events:
            hit = self._event(event, top_key, request.visitor, redactions)
            if hit is not None:
                hits.append(hit)
        return Ingested(hits, OK, redactions)

    def _decode(self, request: CollectRequest) -> Any:
        """The JSON document in the body, whichever of posthog-js's encodings it uses."""
        compression = dict(parse_query(request.query)).get("compression", "")
        body = request.body
        if request.headers.get("content-encoding", "").lower() == "gzip":
            body = gunzip(body, self._limit * 4)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == "application/x-www-form-urlencoded" or body.startswith(b"data="):
            form = dict(parse_query(decode_text(body)))
            if "data" not in form:
                raise ClientError(400, "the form has no data field", "malformed")
            text = form["data"]
            if compression == "base64" or not text.lstrip().startswith(("{", "[")):
                body = unbase64(text)
            else:
                body = text.encode("utf-8")
        elif compression in ("gzip-js", "gzip") or body.startswith(b"\x1f\x8b"):
            pass
        elif compression == "base64":
            body = unbase64(body)
        elif compression and compression != "none":
            raise ClientError(400, f"unsupported compression {compression!r}", "malformed")
        if body.startswith(b"\x1f\x8b"):
            body = gunzip(body, self._limit * 4)
        return parse_json(body)

    def _event(
        self, event: Any, top_key: Any, visitor: Visitor, redactions: dict[str, int]
    ) -> Hit | None:
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            raise ClientError(400, "each event needs an event name", "malformed")
        properties = event.get("properties")
        if properties is None:
            properties = {}
        if not isinstance(properties, dict):
            raise ClientError(400, "properties must be an object", "malformed")
        token = event.get("api_key") or event.get("token") or properties.get("token") or top_key
        if not isinstance(token, str) or not token:
            raise ClientError(400, "the project API key (token) is missing", "malformed")
        if self.settings.site_ids and token not in self.settings.site_ids:
            raise ClientError(403, "this project key is not collected here", "unknown_site")
        name = event["event"]
        visitor = claimed_visitor(visitor, properties.get("$raw_user_agent"), self.redactor)
        if not visitor.analytics and name in PERSON_EVENTS:
            count(redactions, "person_events")
            return None
        event = dict(event)
        properties = dict(properties)
        properties["token"] = token
        for key in ("api_key", "token"):
            event.pop(key, None)
        hit_id = stable_id(event.get("uuid")) or new_hit_id()
        event["uuid"] = hit_id
        self._redact(event, properties, token, visitor, redactions)
        event["properties"] = properties
        self.redactor.scrub_text(self.texts, event, visitor.marketing, redactions)
        return Hit(hit_id, {"e": event, "k": token}, visitor)

    def _redact(
        self,
        event: dict[str, Any],
        properties: dict[str, Any],
        token: str,
        visitor: Visitor,
        redactions: dict[str, int],
    ) -> None:
        marketing = visitor.marketing
        page = (
            properties.get("$current_url")
            if isinstance(properties.get("$current_url"), str)
            else None
        )
        for key in _URL_PROPERTIES:
            if isinstance(properties.get(key), str):
                scrubbed = self.redactor.url(properties[key], marketing)
                count(redactions, "url", scrubbed != properties[key])
                properties[key] = scrubbed
        for key in _REFERRER_PROPERTIES:
            value = properties.get(key)
            if isinstance(value, str) and value != "$direct":
                scrubbed = self.redactor.referrer(value, page, marketing) or ""
                count(redactions, "referrer", scrubbed != value)
                properties[key] = scrubbed
        properties.pop("$ip", None)
        if visitor.forwarded_ip:
            properties["$ip"] = visitor.forwarded_ip
        elif visitor.anonymous:
            properties["$geoip_disable"] = True  # nor the location of the gateway's address
        if "$raw_user_agent" in properties and self.redactor.reduces_user_agent:
            properties["$raw_user_agent"] = visitor.user_agent
        if not visitor.analytics:
            visitor_id = "cg_" + visitor.hash(token)[:16].hex()
            if "distinct_id" in event or "distinct_id" not in properties:
                event["distinct_id"] = visitor_id
            properties["distinct_id"] = visitor_id
            for key in _IDENTIFYING:
                if properties.pop(key, None) is not None:
                    count(redactions, "session_or_person")
            for key in ("$set", "$set_once", "$unset"):
                if event.pop(key, None) is not None:
                    count(redactions, "session_or_person")
            properties["$process_person_profile"] = False
            count(redactions, "client_id")
        if not marketing:
            self._drop_click_ids(properties, redactions)
            for key in ("$set", "$set_once"):
                for holder in (event.get(key), properties.get(key)):
                    if isinstance(holder, dict):
                        self._drop_click_ids(holder, redactions)

    def _drop_click_ids(self, properties: dict[str, Any], redactions: dict[str, int]) -> None:
        for key in list(properties):
            # Click ids are copied too: $initial_gclid, $session_entry_gclid.
            name = str(key).removeprefix("$initial_").removeprefix("$session_entry_")
            if self.redactor.rules.is_click_id(name):
                del properties[key]
                count(redactions, "click_ids")

    async def forward(self, upstream: Upstream, rows: Sequence[OutboxRow]) -> list[Result]:
        stored = [decode_payload(row) for row in rows]
        by_key: dict[str, list[int]] = {}
        for index, hit in enumerate(stored):
            by_key.setdefault(hit.data["k"], []).append(index)
        results: list[Result] = [Result(Outcome.RETRY, "not_sent")] * len(rows)
        for key, indexes in by_key.items():
            body = {"api_key": key, "batch": [stored[i].data["e"] for i in indexes]}
            headers = {
                "user-agent": "consent-gateway",
                "content-type": "application/json",
                "idempotency-key": stored[indexes[0]].row.hit_id,
            }
            request = Request(self.settings.upstream + "/batch/", json_body(body), headers)
            result = await send_one(upstream, request)
            for index in indexes:
                results[index] = result
        return results
