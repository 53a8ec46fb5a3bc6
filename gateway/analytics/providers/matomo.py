"""Matomo: ``matomo.php`` (and ``piwik.php``) as the JavaScript tracker sends it.

``setTrackerUrl('/_consent/collect/matomo/matomo.php')`` makes matomo.js send its requests
here: a GET with the tracking parameters in the query (an image request), a POST with them
as a form body (``application/x-www-form-urlencoded``), or, with request queueing, a bulk
POST of JSON ``{"requests": ["?idsite=1&rec=1&...", ...]}``. Each request becomes one hit.

Redaction: ``url``, ``urlref``, ``link`` and ``download`` scrubbed; the title, event,
search, content, campaign fields, custom variables and dimensions scrubbed as free text
(``[free_text]`` of rules/analytics.toml); ``cip`` is always the truncated IP and ``ua``
the forwarded User-Agent (the visitor's: a server-side client such as matomo-tracker names
it in ``ua``), which Matomo accepts only with the ``token_auth`` of the settings (a
client's ``token_auth`` is removed, always); with the token the hit also keeps the time it
was received (``cdt``), so hits that waited in the outbox are not dated late. Without
analytics consent the visitor id ``_id`` is the day's visitor hash
(16 hex digits) and ``uid``, ``cid``, the visit counters of the ``_pk_id`` cookie (``_idts``,
``_idvc``, ``_viewts``, ``_ects``) and visit-scope custom variables (``_cvar``) are removed.

Forwarding: one form POST per hit (with ``Idempotency-Key``), not a bulk request, so every
hit is delivered, retried or refused on its own.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from urllib.parse import urlencode

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
    claimed_visitor,
    count,
    decode_payload,
    decode_text,
    new_hit_id,
    parse_json,
    parse_query,
    send_each,
)
from gateway.endpoint import ClientError
from gateway.settings.analytics import MatomoSettings
from gateway.store import OutboxRow

Pairs = list[tuple[str, str]]

# A transparent 1x1 GIF: what matomo.php answers an image request.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
MAX_BULK = 100
_URLS = ("url", "link", "download")
_SERVER = ("token_auth", "cip", "cdt", "ua", "country", "region", "city", "lat", "long")
_VISITOR_IDS = ("uid", "cid", "_idts", "_idvc", "_viewts", "_ects", "_cvar")
# matomo.js's own parameters, not personal data by their names ("_id" is the visitor id).
_PROTOCOL = frozenset({
    "idsite", "rec", "action_name", "url", "urlref", "_id", "_rand", "apiv", "res", "h", "m",
    "s", "cookie", "pdf", "qt", "realp", "wma", "fla", "java", "ag", "gears", "send_image",
    "pv_id", "pf_net", "pf_srv", "pf_tfr", "pf_dm1", "pf_dm2", "pf_onl", "uadata", "lang",
    "e_c", "e_a", "e_n", "e_v", "link", "download", "search", "search_cat", "search_count",
    "c_n", "c_p", "c_t", "c_i", "idgoal", "revenue", "ec_id", "ec_items", "ec_st", "ec_tx",
    "ec_dt", "ec_sh", "_rcn", "_rck", "new_visit", "ping", "bots", "ca", "dimension", "ma_id",
    "uid", "_idts", "_idvc", "_viewts", "_ects", "_idn", "r",
})  # fmt: skip


class Matomo(ProviderBase[MatomoSettings]):
    name = "matomo"
    claims_agent = True  # the Tracking API's ``ua``: matomo-tracker's way to name the visitor's

    def route(self, method: str, path: str) -> bool:
        return method in ("GET", "POST") and path in ("/matomo.php", "/piwik.php")

    async def ingest(self, request: CollectRequest) -> Ingested:
        query = parse_query(request.query)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = request.body
        if request.method == "POST" and body.lstrip().startswith(b"{"):
            return self._bulk(request, query)
        if (
            request.method == "POST"
            and body
            and media in ("", "application/x-www-form-urlencoded", "text/plain")
        ):
            query = query + parse_query(decode_text(body))
        redactions: dict[str, int] = {}
        hit = self._hit(query, request.visitor, redactions)
        pixel = _first(query, "send_image") != "0" and request.method == "GET"
        response = Answer(200, PIXEL, "image/gif") if pixel else Answer(204)
        return Ingested([hit], response, redactions)

    def _bulk(self, request: CollectRequest, query: Pairs) -> Ingested:
        data = parse_json(request.body)
        requests = data.get("requests") if isinstance(data, dict) else None
        if not isinstance(requests, list) or not 1 <= len(requests) <= MAX_BULK:
            raise ClientError(
                400, f'send {{"requests": [...]}} with 1 to {MAX_BULK} requests', "malformed"
            )
        redactions: dict[str, int] = {}
        hits = []
        for item in requests:
            if not isinstance(item, str):
                raise ClientError(400, 'each of "requests" must be a query string', "malformed")
            pairs = parse_query(item.split("?", 1)[1] if "?" in item else item)
            hits.append(self._hit(query + pairs, request.visitor, redactions))
        response = Answer.json({"status": "success", "tracked": len(hits), "invalid": 0})
        return Ingested(hits, response, redactions)

    def _hit(self, pairs: Pairs, visitor: Visitor, redactions: dict[str, int]) -> Hit:
        site = _first(pairs, "idsite")
        if not site:
            raise ClientError(400, "a Matomo request needs idsite", "malformed")
        if self.settings.site_ids and site not in self.settings.site_ids:
            raise ClientError(403, f"idsite {site!r} is not collected here", "unknown_site")
        visitor = claimed_visitor(visitor, _first(pairs, "ua"), self.redactor)
        page = _first(pairs, "url") or ""
        kept: Pairs = []
        pairs = self.redactor.scrub_text_pairs(self.texts, pairs, visitor.marketing, redactions)
        for key, value in pairs:
            if key in _SERVER:
                if key == "token_auth":
                    count(redactions, "credentials")
                continue
            if key in _URLS:
                scrubbed = self.redactor.url(value, visitor.marketing)
                count(redactions, "url", scrubbed != value)
                value = scrubbed
            elif key == "urlref":
                scrubbed = self.redactor.referrer(value, page, visitor.marketing) or ""
                count(redactions, "referrer", scrubbed != value)
                value = scrubbed
            elif not visitor.analytics and key == "_id":
                value = visitor.hash(site)[:8].hex()
                count(redactions, "client_id")
            elif not visitor.analytics and key in _VISITOR_IDS:
                count(redactions, "user_id" if key == "uid" else "session_or_person")
                continue
            elif key not in _PROTOCOL and self.texts.field(key) is None:
                if not self.redactor.keep_parameter(key, value, visitor.marketing):
                    count(redactions, "params")
                    continue
            elif self.redactor.rules.is_click_id(key) and not visitor.marketing:
                count(redactions, "click_ids")
                continue
            kept.append((key, value))
        if visitor.forwarded_ip:
            kept.append(("cip", visitor.forwarded_ip))
        if visitor.user_agent:
            kept.append(("ua", visitor.user_agent))
        if visitor.language and not _first(kept, "lang"):
            kept.append(("lang", visitor.language))
        return Hit(new_hit_id(), {"q": kept, "t": int(time.time())}, visitor)

    async def forward(self, upstream: Upstream, rows: Sequence[OutboxRow]) -> list[Result]:
        stored = [decode_payload(row) for row in rows]
        return await send_each(upstream, stored, self._request, self.concurrency)

    def _request(self, hit: Stored) -> Request:
        pairs: list[tuple[str, str]] = [(k, v) for k, v in hit.data["q"]]
        token = self.settings.token_auth
        if token:
            pairs += [("token_auth", token), ("cdt", str(hit.data["t"]))]
        else:
            # Matomo takes cip only with the token; a Matomo set up to read proxy headers
            # still finds the truncated IP in X-Forwarded-For.
            pairs = [(k, v) for k, v in pairs if k != "cip"]
        headers = {
            "user-agent": hit.user_agent or "consent-gateway",
            "idempotency-key": hit.row.hit_id,
            "content-type": "application/x-www-form-urlencoded",
        }
        if hit.ip:
            headers["x-forwarded-for"] = hit.ip
        return Request(self.settings.upstream, urlencode(pairs).encode("ascii"), headers)


def _first(pairs: Sequence[tuple[str, str]], key: str) -> str | None:
    return next((value for name, value in pairs if name == key), None)
