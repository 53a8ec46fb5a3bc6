"""Google Analytics 4: gtag's ``/g/collect`` hits and the Measurement Protocol ``/mp/collect``.

``/g/collect`` (gtag with ``transport_url`` or ``server_container_url`` pointing here): the
query string carries the parameters shared by the request (``v=2``, ``tid``, ``cid``,
``sid``, ``dl``, ``dr``, ``ul``, ``gcs``, ``gcd``, ``npa``...), and a POST body may carry
several events, one per line, each a query string of its own (``en``, ``ep.*``, ``epn.*``,
``up.*``, ``_et``...). The hit is forwarded as it came, redacted:

- always: the truncated IP in ``_uip``, the page (``dl``) and referrer (``dr``) scrubbed,
  the title (``dt``), event and user parameters scrubbed as free text (``[free_text]`` of
  rules/analytics.toml: a name that carries personal data or a text with an e-mail address
  removes the parameter);
- without analytics consent (``cookieless``): ``cid`` replaced by the day's visitor hash in
  the ``<number>.<number>`` shape of a client id; ``uid``, ``sid``, ``sct`` and the user
  properties (``up.*``, ``upn.*``) removed;
- without marketing consent or with GPC: click ids removed, ``em`` (hashed user data) removed,
  and the consent signals say so: ``gcs`` ``G1<ad_storage><analytics_storage>``, ``gcd``
  ``11<ad_storage>1<analytics_storage>1<ad_user_data>1<ad_personalization>5`` with ``q``
  (denied) for what the visitor did not grant, ``npa=1``. The gateway only ever turns a
  signal to denied, never to granted;
- IAB TCF (``gdpr``, ``gdpr_consent``, as gtag sends them for Google to honour the TC
  string): the client's are always removed. When the visitor's choice was read from a TC
  string (``consent_source = ["tcf"]``, or ``"didomi"`` with its ``euconsent-v2``),
  ``gdpr=1`` and ``gdpr_consent=<that string>`` are set instead: the signal forwarded is the
  choice enforced. Not for an anonymised visitor (``anonymize = "always"``), when GPC refused
  marketing the string granted, or when another consent source narrowed its choice.

``/mp/collect`` (JSON ``client_id``, ``user_id``, ``events``, ``user_properties``,
``user_data``, ``consent``, ``ip_override``, ``user_location``): the same rules in the JSON
form; ``ip_override`` is the truncated IP, ``consent`` is set to ``DENIED`` without marketing
consent, and the ``api_secret`` comes from the settings only (the Measurement Protocol
has no TC string field: none is added). Each hit carries the time it
was received (``timestamp_micros``) so a hit that waited in the outbox keeps its time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode

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
    decode_text,
    json_body,
    new_hit_id,
    parse_json,
    parse_query,
    send_each,
)
from gateway.endpoint import ClientError
from gateway.settings.analytics import GA4Settings
from gateway.store import OutboxRow

Pairs = list[tuple[str, str]]

_GCD = re.compile(r"1[0-9]([a-z])[0-9]([a-z])[0-9]([a-z])[0-9]([a-z])[0-9]")
_GRANTED_LETTERS = frozenset("trnv")  # granted by default or by update
_DENIED = "q"  # denied by default and by update
_NOT_SET = "l"
_CLIENT_ONLY = ("uid", "sid", "sct", "_uid")  # ids that exist only with analytics consent
_PERSON = ("up.", "upn.")
_PAGES = ("dl", "page_location")  # gtag's and the Measurement Protocol's names
_REFERRERS = ("dr", "page_referrer")
_REWRITTEN = ("gcs", "gcd", "npa", "_uip", "uip", "gdpr", "gdpr_consent")
_USER_DATA = ("em", "_em", "ecid")
MAX_EVENTS = 25  # the Measurement Protocol's limit per request


def client_id_from_hash(digest: bytes) -> str:
    """A GA client id shape (``<random>.<timestamp>``) from the visitor hash."""
    first = int.from_bytes(digest[:4], "big") % 2_000_000_000 + 100_000_000
    second = int.from_bytes(digest[4:8], "big") % 900_000_000 + 1_100_000_000
    return f"{first}.{second}"


def _letter(client: str | None, allowed: bool) -> str:
    """One consent letter of ``gcd``: the client's unless it grants what was refused."""
    if allowed:
        return client or _NOT_SET
    if client is not None and client not in _GRANTED_LETTERS and client != _NOT_SET:
        return client  # denied already
    return _DENIED


def consent_signals(
    client_gcs: str | None, client_gcd: str | None, visitor: Visitor
) -> dict[str, str | None]:
    """``gcs`` and ``gcd`` that deny what the visitor did not grant (never grant more than
    the client claimed)."""
    ad, analytics = visitor.marketing, visitor.analytics
    if client_gcs and len(client_gcs) == 4 and client_gcs.startswith("G1"):
        ad = ad and client_gcs[2] == "1"
        analytics = analytics and client_gcs[3] == "1"
    gcs = f"G1{int(ad)}{int(analytics)}"
    # ad_storage, analytics_storage, ad_user_data, ad_personalization
    wanted = (visitor.marketing, visitor.analytics, visitor.marketing, visitor.marketing)
    match = _GCD.fullmatch(client_gcd or "")
    if match is None and all(wanted):
        return {"gcs": gcs, "gcd": None}
    template = list(client_gcd) if match is not None and client_gcd else list("11l1l1l1l5")
    for position, allowed in zip((2, 4, 6, 8), wanted, strict=True):
        client = template[position] if match is not None else None
        template[position] = _letter(client, allowed)
    return {"gcs": gcs, "gcd": "".join(template)}


def tcf_signals(visitor: Visitor) -> Pairs:
    """``gdpr`` and ``gdpr_consent`` for a visitor whose choice was read from a TC string:
    that string, the one enforced. Otherwise none: the client's cannot be vouched for."""
    if visitor.tc_string is None:
        return []
    return [("gdpr", "1"), ("gdpr_consent", visitor.tc_string)]


class GA4(ProviderBase[GA4Settings]):
    name = "ga4"

    def route(self, method: str, path: str) -> bool:
        if path == "/g/collect":
            return method in ("GET", "POST")
        return path == "/mp/collect" and method == "POST" and self.settings.api_secret is not None

    async def ingest(self, request: CollectRequest) -> Ingested:
        if request.path == "/mp/collect":
            return self._measurement_protocol(request)
        return self._web_hit(request)

    # -- /g/collect ---------------------------------------------------------------------

    def _web_hit(self, request: CollectRequest) -> Ingested:
        shared = parse_query(request.query)
        text = decode_text(request.body) if request.body else ""
        events = [parse_query(line) for line in text.splitlines() if line.strip()]
        tid = _first(shared, "tid") or next(
            (_first(e, "tid") for e in events if _first(e, "tid")), None
        )
        if not tid:
            raise ClientError(400, "a GA4 hit needs tid (the measurement id)", "malformed")
        self._check_site(tid)
        visitor = request.visitor
        redactions: dict[str, int] = {}
        page = _first(shared, "dl") or ""
        client_gcs, client_gcd = _first(shared, "gcs"), _first(shared, "gcd")
        shared_before = shared
        shared = self._redact_pairs(shared, visitor, page, tid, redactions)
        events = [self._redact_pairs(event, visitor, page, tid, redactions) for event in events]
        signals = consent_signals(client_gcs, client_gcd, visitor)
        if signals["gcs"] != client_gcs or signals["gcd"] != client_gcd:
            count(redactions, "consent_signals")
        shared += [(key, value) for key, value in signals.items() if value is not None]
        client_npa = _first(shared_before, "npa")
        if not visitor.marketing:
            shared.append(("npa", "1"))
        elif client_npa is not None:
            shared.append(("npa", client_npa))
        tcf = tcf_signals(visitor)
        client_tcf = [(k, v) for k, v in shared_before if k in ("gdpr", "gdpr_consent")]
        if client_tcf and client_tcf != tcf:
            count(redactions, "consent_signals")
        shared += tcf
        if visitor.forwarded_ip:
            shared.append(("_uip", visitor.forwarded_ip))
        data = {"q": shared, "e": events}
        return Ingested([Hit(new_hit_id(), data)], Answer(204), redactions)

    def _redact_pairs(
        self, pairs: Pairs, visitor: Visitor, page: str, site: str, redactions: dict[str, int]
    ) -> Pairs:
        kept: Pairs = []
        pairs = self.redactor.scrub_text_pairs(self.texts, pairs, visitor.marketing, redactions)
        for key, value in pairs:
            if key in _REWRITTEN:
                continue
            if key in _PAGES or key in _REFERRERS:
                value = self._location(key, value, page, visitor, redactions)
            elif key == "cid" and not visitor.analytics:
                value = client_id_from_hash(visitor.hash(site))
                count(redactions, "client_id")
            elif not visitor.analytics and (key in _CLIENT_ONLY or key.startswith(_PERSON)):
                count(redactions, "user_id" if key in ("uid", "_uid") else "session_or_person")
                continue
            elif key in _USER_DATA and not visitor.marketing:
                count(redactions, "user_data")
                continue
            elif not self.redactor.keep_parameter(key, value, True) and key not in _PROTOCOL:
                count(redactions, "params")
                continue
            elif self.redactor.rules.is_click_id(key) and not visitor.marketing:
                count(redactions, "click_ids")
                continue
            kept.append((key, value))
        return kept

    def _location(
        self, key: str, value: str, page: str, visitor: Visitor, redactions: dict[str, int]
    ) -> str:
        """A page (``dl``, ``page_location``) or referrer (``dr``, ``page_referrer``) URL
        scrubbed: one rule for gtag hits and the Measurement Protocol."""
        if key in _REFERRERS:
            scrubbed = self.redactor.referrer(value, page, visitor.marketing) or ""
            count(redactions, "referrer", scrubbed != value)
        else:
            scrubbed = self.redactor.url(value, visitor.marketing)
            count(redactions, "url", scrubbed != value)
        return scrubbed

    def _check_site(self, measurement_id: str) -> None:
        if self.settings.site_ids and measurement_id not in self.settings.site_ids:
            raise ClientError(403, f"{measurement_id!r} is not collected here", "unknown_site")

    # -- /mp/collect --------------------------------------------------------------------

    def _measurement_protocol(self, request: CollectRequest) -> Ingested:
        query = dict(parse_query(request.query))
        stream = {k: query[k] for k in ("measurement_id", "firebase_app_id") if query.get(k)}
        if len(stream) != 1:
            raise ClientError(
                400, "give measurement_id (or firebase_app_id) in the query", "malformed"
            )
        site = next(iter(stream.values()))
        self._check_site(site)
        body = parse_json(request.body)
        if not isinstance(body, dict):
            raise ClientError(400, "send a JSON object with client_id and events", "malformed")
        events = body.get("events")
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
            raise ClientError(
                400, f"events must be a list of 1 to {MAX_EVENTS} events", "malformed"
            )
        if not all(isinstance(e, dict) and isinstance(e.get("name"), str) for e in events):
            raise ClientError(400, "each event needs a name", "malformed")
        if not isinstance(body.get("client_id") or body.get("app_instance_id"), str):
            raise ClientError(400, "client_id (or app_instance_id) must be a string", "malformed")
        visitor = request.visitor
        redactions: dict[str, int] = {}
        document = dict(body)
        if not visitor.analytics:
            if "client_id" in document:
                document["client_id"] = client_id_from_hash(visitor.hash(site))
            if "app_instance_id" in document:
                document["app_instance_id"] = visitor.hash(site)[:16].hex()
            count(redactions, "client_id")
            for key in ("user_id", "user_properties", "user_location"):
                if document.pop(key, None) is not None:
                    count(redactions, "user_id" if key == "user_id" else "session_or_person")
        if not visitor.marketing:
            if document.pop("user_data", None) is not None:
                count(redactions, "user_data")
            document["consent"] = {"ad_user_data": "DENIED", "ad_personalization": "DENIED"}
            document["non_personalized_ads"] = True
            count(redactions, "consent_signals")
        claimed_ip = document.get("ip_override")
        ip = self.redactor.ip(claimed_ip) if isinstance(claimed_ip, str) else visitor.ip
        document.pop("ip_override", None)
        if ip and not visitor.anonymous:
            document["ip_override"] = ip
        document.setdefault("timestamp_micros", int(time.time() * 1_000_000))
        document["events"] = [
            {
                **event,
                "params": self._mp_params(event.get("params") or {}, visitor, redactions),
            }
            for event in events
        ]
        self.redactor.scrub_text(self.texts, document, visitor.marketing, redactions)
        data = {"s": stream, "b": document}
        return Ingested([Hit(new_hit_id(), data)], Answer(204), redactions)

    def _mp_params(
        self, params: Any, visitor: Visitor, redactions: dict[str, int]
    ) -> dict[str, Any]:
        """An event's parameters without the session id (without consent), the page and
        referrer scrubbed; the others are free text (``scrub_text``)."""
        if not isinstance(params, dict):
            return {}
        kept: dict[str, Any] = {}
        page = params.get("page_location")
        page = page if isinstance(page, str) else ""
        for key, value in params.items():
            if not visitor.analytics and key == "session_id":
                count(redactions, "session_or_person")
                continue
            if (key in _PAGES or key in _REFERRERS) and isinstance(value, str):
                value = self._location(key, value, page, visitor, redactions)
            kept[key] = value
        return kept

    # -- forwarding ---------------------------------------------------------------------

    async def forward(self, upstream: Upstream, rows: Sequence[OutboxRow]) -> list[Result]:
        stored = [decode_payload(row) for row in rows]
        return await send_each(upstream, stored, self._request, self.concurrency)

    def _request(self, hit: Stored) -> Request:
        headers = {
            "user-agent": hit.user_agent or "consent-gateway",
            "idempotency-key": hit.row.hit_id,
        }
        if "s" in hit.data:
            query = {**hit.data["s"], "api_secret": self.settings.api_secret or ""}
            url = f"{self.settings.upstream}/mp/collect?{urlencode(query)}"
            headers["content-type"] = "application/json"
            return Request(url, json_body(hit.data["b"]), headers)
        url = f"{self.settings.upstream}/g/collect?{_encode(hit.data['q'])}"
        body = "\r\n".join(_encode(event) for event in hit.data["e"])
        headers["content-type"] = "text/plain;charset=UTF-8"
        return Request(url, body.encode("utf-8"), headers)


# gtag's own parameters: their names are the protocol's, not personal data ("sid" is GA's
# session number, not a session token; "tid" the measurement id).
_PROTOCOL = frozenset({
    "v", "tid", "gtm", "_p", "_gaz", "gcs", "gcd", "npa", "dma", "dma_cps", "pscdl", "cid",
    "ul", "sr", "uaa", "uab", "uafvl", "uam", "uamb", "uap", "uapv", "uaw", "are", "frm",
    "sid", "sct", "seg", "dl", "dr", "dt", "en", "_et", "_s", "_ss", "_fv", "_nsi", "_ee",
    "tfd", "_eu", "_tu", "_c", "_z", "richsstsse", "_dbg", "ir",
})  # fmt: skip


def _encode(pairs: Sequence[Sequence[str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


def _first(pairs: Pairs, key: str) -> str | None:
    return next((value for name, value in pairs if name == key), None)
