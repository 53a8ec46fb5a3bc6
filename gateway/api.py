"""The consent API under ``/_consent``: read, save and withdraw a visitor's choice.

Saving a choice records it in the store first (proof of consent, GDPR Art. 7(1)); only
then does the visitor get the signed cookie. If the store cannot take the record, the
choice is not applied and the visitor keeps the regime's default: nothing is granted that
could not be proven.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from gateway import declaration
from gateway.analytics.salts import DailySalts, visitor_hash
from gateway.banner import Banner
from gateway.consent import (
    ALL_GRANTED,
    ESSENTIAL_ONLY,
    OPTIONAL_CATEGORIES,
    Category,
    ConsentState,
    Decision,
    grants_from,
    new_consent_id,
)
from gateway.cookies import build_set_cookie, expiry_headers
from gateway.enforce import Header, expire_refused
from gateway.json_input import JSONInputError, parse_json
from gateway.later import LaterWrite
from gateway.metrics import CONTENT_TYPE, Metrics
from gateway.policy import SECONDS_PER_DAY, ConsentPolicy
from gateway.store import ConsentRecord
from gateway.store_handle import StoreHandle

if TYPE_CHECKING:
    from gateway.analytics.collect import Collector

MAX_BODY_BYTES = 4096
SEEN_FLUSH_SECONDS = 10.0  # seen cookie rules are written this long after the first of a batch
DECLARATION_CACHE_SECONDS = 60.0  # how long one replica reuses the seen rules it read
DECLARATION_CACHE_CONTROL = "public, max-age=300"
logger = logging.getLogger("consent_gateway")


class BadRequest(Exception):
    """A client error, answered with ``status``, ``headers`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """What the API needs to know about one request beyond its scope."""

    state: ConsentState
    cookie_names: tuple[str, ...]
    host: str | None
    secure: bool


class ConsentAPI:
    """ASGI handler for every path under the API prefix."""

    def __init__(
        self, policy: ConsentPolicy, metrics: Metrics, store: StoreHandle, banner: Banner
    ) -> None:
        self.policy = policy
        self.metrics = metrics
        self.store = store
        self.banner = banner
        self.prefix = policy.settings.api_prefix
        banner.configure(policy.settings)
        vendors = policy.settings.declared_vendors
        unknown = declaration.unknown_vendors(policy.classifier.rules, vendors)
        if unknown:
            raise ValueError(
                f"declared_vendors: no built-in rules name the vendor(s) {unknown}; use the "
                "vendor names of rules/cookies/*.toml (`consent-gateway classify NAME` shows them)"
            )
        self.seen_flush_seconds = SEEN_FLUSH_SECONDS
        self._seen_read_at = -DECLARATION_CACHE_SECONDS
        self.seen_writes = LaterWrite(self._write_seen, lambda: self.seen_flush_seconds)
        self.salts = DailySalts(store.call)  # visitors vouching for seen rules are hashed
        if policy.settings.declare_seen_cookies:
            policy.seen_rules.on_pending = self.seen_writes.soon
        self.collect = _collector(policy, metrics, store)

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, request: ApiRequest
    ) -> None:
        route = scope["path"][len(self.prefix) :]
        if self.collect is not None and route.startswith("/collect/"):
            await self.collect(route, scope, receive, send, request)
            return
        try:
            response = await self._route(scope, receive, request)
        except BadRequest as error:
            response = JSONResponse(
                {"error": error.message}, status_code=error.status, headers=error.headers
            )
        # Never read as a script or a style, whatever a browser would guess from the body.
        response.headers["x-content-type-options"] = "nosniff"
        await response(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, request: ApiRequest) -> Response:
        route = scope["path"][len(self.prefix) :]
        method = scope["method"]
        headers = Headers(scope=scope)
        if route == "/state":
            if method in ("GET", "HEAD"):
                return self._with_cors(JSONResponse(request.state.as_json()), headers)
            if method == "OPTIONS":
                return self._preflight(headers)
            if method in ("POST", "DELETE"):
                self._refuse_cross_site(headers, request)
                if method == "DELETE":
                    return await self._save(headers, request, ESSENTIAL_ONLY, "withdraw", None)
                granted, form = await self._read_choice(headers, receive)
                return await self._save(headers, request, granted, "grant", form)
            raise BadRequest(
                405,
                f"{method} is not allowed here; use GET, POST or DELETE",
                {"allow": "GET, HEAD, POST, DELETE, OPTIONS"},
            )
        if method in ("GET", "HEAD"):
            asset = self.banner.response(
                route, headers.get("if-none-match"), headers.get("accept-encoding")
            )
            if asset is not None:
                return self._with_cors(asset, headers)
            if route == "/declaration":
                listed = await self._declaration()
                response = JSONResponse(
                    listed, headers={"cache-control": DECLARATION_CACHE_CONTROL}
                )
                return self._with_cors(response, headers)
        elif self.banner.serves(route):
            raise BadRequest(
                405, f"{method} is not allowed here; use GET or HEAD", {"allow": "GET, HEAD"}
            )
        if route == "/metrics" and self.policy.settings.metrics and method == "GET":
            return Response(self.metrics.exposition(), media_type=CONTENT_TYPE)
        raise BadRequest(404, f"no such consent endpoint: {scope['path']}")

    async def _declaration(self) -> declaration.DeclarationJSON:
        """The cookie declaration, with the seen rules of every replica sharing the store
        (read at most once a minute; when the store fails, this replica's own)."""
        settings = self.policy.settings
        seen = self.policy.seen_rules
        if settings.declare_seen_cookies:
            await self._write_seen()
            if time.monotonic() - self._seen_read_at >= DECLARATION_CACHE_SECONDS:
                try:
                    seen.read(await self.store.call(lambda store: store.cookie_rules_seen()))
                    self._seen_read_at = time.monotonic()
                except Exception:
                    logger.exception("could not read the cookie rules seen on this site")
                    self.metrics.store_errors.labels("cookie_rules_seen").inc()
        return declaration.build(
            self.policy.classifier.rules,
            seen.known,
            set(settings.declared_vendors),
            include_seen=settings.declare_seen_cookies,
        )

    async def _write_seen(self) -> None:
        seen = self.policy.seen_rules
        set_keys, sent = seen.take()
        if set_keys:
            try:
                await self.store.call(
                    lambda store: store.note_cookie_rules(set_keys, datetime.now(UTC))
                )
            except Exception:
                logger.exception("could not write the cookie rules seen on this site")
                self.metrics.store_errors.labels("note_cookie_rules").inc()
                seen.put_back(set_keys, {})
        if sent:
            try:
                seen.known |= await self._vouch(sent)
            except Exception:
                logger.exception("could not write the cookie rules visitors sent")
                self.metrics.store_errors.labels("vouch_cookie_rules").inc()
                seen.put_back((), sent)

    async def _vouch(self, sent: Mapping[str, set[str]]) -> set[str]:
        """Store who sent which rules' cookies, each network as a hash under the day's salt;
        the rules now listed."""
        salt = await self.salts.current()
        by_visitor = {
            visitor_hash(salt, declaration.VISITOR_HASH_SITE, network, ""): keys
            for network, keys in sent.items()
        }
        visitors = self.policy.settings.declare_seen_visitors
        return await self.store.call(
            lambda store: store.vouch_cookie_rules(
                by_visitor,
                datetime.now(UTC),
                visitors=visitors,
                rules_per_visitor=declaration.RULES_PER_VISITOR,
            )
        )

    def _refuse_cross_site(self, headers: Headers, request: ApiRequest) -> None:
        """Only this site's pages (and configured origins) may change a visitor's consent."""
        origin = headers.get("origin")
        if origin is not None:
            if self._origin_allowed(origin, request):
                return
            raise BadRequest(403, "cross-site consent changes are refused")
        if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            raise BadRequest(403, "cross-site consent changes are refused")

    def _origin_allowed(self, origin: str, request: ApiRequest) -> bool:
        origin = origin.lower()
        if origin in self.policy.settings.allowed_origins:
            return True
        return request.host is not None and urlsplit(origin).netloc == request.host.lower()

    async def _read_choice(
        self, headers: Headers, receive: Receive
    ) -> tuple[frozenset[Category], bool]:
        body = await _read_body(headers, receive)
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type == "application/x-www-form-urlencoded":
            return _choice_from_form(body), True
        if media_type in ("application/json", ""):
            return _choice_from_json(body), False
        raise BadRequest(415, "send application/json or an HTML form post")

    async def _save(
        self,
        headers: Headers,
        request: ApiRequest,
        granted: frozenset[Category],
        action: str,
        form: bool | None,
    ) -> Response:
        settings = self.policy.settings
        old = request.state
        decision = Decision(
            consent_id=old.consent_id or new_consent_id(),
            granted=granted,
            policy_version=settings.policy_version,
            decided_at=datetime.now(UTC),
        )
        new = self.policy.decided_state(
            decision, old.regime, old.country, old.subdivision, old.gpc, old.bot
        )
        record = ConsentRecord(
            consent_id=decision.consent_id,
            decided_at=decision.decided_at,
            policy_version=decision.policy_version,
            categories=new.categories(),
            regime=old.regime.value,
            source=new.source.value,
            action=action,
            country=old.country,
            subdivision=old.subdivision,
            user_agent=self._agent_summary(headers),
        )
        try:
            await self.store.call(lambda store: store.record_consent(record))
        except Exception:
            logger.exception("could not record a consent decision; the choice was not applied")
            self.metrics.store_errors.labels("record_consent").inc()
            raise BadRequest(503, "the choice could not be recorded; please try again") from None
        self.metrics.decisions.labels(old.regime.value, _choice_label(granted, action)).inc()
        name = self.policy.consent_cookie_name(request.secure)
        cookie = build_set_cookie(
            name,
            self.policy.codec.encode(decision),
            max_age=settings.cookie_lifetime_days * SECONDS_PER_DAY,
            domain=settings.cookie_domain,
            secure=request.secure,
            http_only=True,
        )
        response: Response
        if form:
            back = _back_to(headers, request, settings.allowed_origins)
            response = Response(status_code=303, headers={"location": back})
        else:
            response = self._with_cors(JSONResponse(new.as_json()), headers)
        extra = self._replaced_consent_cookies(name, request)
        extra.append((b"set-cookie", cookie.encode("latin-1")))
        extra += expire_refused(
            request.cookie_names,
            new,
            self.policy,
            self.metrics,
            host=request.host,
            path="/",
            secure=request.secure,
        )
        response.raw_headers.extend(extra)
        response.headers["cache-control"] = "no-store"
        return response

    def _replaced_consent_cookies(self, name: str, request: ApiRequest) -> list[Header]:
        """Expiry lines for the consent cookies the browser sent beside the one a save sets
        as ``name``: a second one of that name (another subdomain's), or one under the other
        name after ``cookie_host_prefix`` changed. They would narrow the new choice
        (``policy.most_restrictive``); sent before its line, they leave it alone."""
        sent = [n for n in request.cookie_names if n in self.policy.consent_cookie_names]
        if sent == [name] or not sent:
            return []
        return [
            (b"set-cookie", line.encode("latin-1"))
            for other in dict.fromkeys(sent)
            for line in expiry_headers(other, request.host, "/", secure=request.secure)
        ]

    def _agent_summary(self, headers: Headers) -> str | None:
        user_agent = headers.get("user-agent")
        if not user_agent:
            return None
        info = self.policy.agents.describe(user_agent)
        major = f" {info.browser_major}" if info.browser_major else ""
        return f"{info.browser_family}{major} / {info.os_family} / {info.device_class}"

    def _with_cors(self, response: Response, headers: Headers) -> Response:
        origin = headers.get("origin")
        if origin and origin.lower() in self.policy.settings.allowed_origins:
            response.headers["access-control-allow-origin"] = origin
            response.headers["access-control-allow-credentials"] = "true"
        response.headers.append("vary", "Origin")
        return response

    def _preflight(self, headers: Headers) -> Response:
        origin = headers.get("origin", "").lower()
        if origin not in self.policy.settings.allowed_origins:
            raise BadRequest(403, "this origin may not call the consent API")
        return self._with_cors(
            Response(
                status_code=204,
                headers={
                    "access-control-allow-methods": "GET, POST, DELETE",
                    "access-control-allow-headers": "content-type",
                    "access-control-max-age": "600",
                },
            ),
            headers,
        )


def _collector(policy: ConsentPolicy, metrics: Metrics, store: StoreHandle) -> Collector | None:
    """The analytics collection endpoints, when ``[analytics]`` configures a provider."""
    settings = policy.settings
    if not settings.analytics.providers():
        return None
    from gateway.analytics.collect import Collector

    return Collector(
        settings.analytics,
        trusted_proxies=settings.trusted_proxies,
        allowed_origins=settings.allowed_origins,
        agents=policy.agents,
        metrics=metrics,
        store=store,
    )


async def _read_body(headers: Headers, receive: Receive) -> bytes:
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(400, "invalid Content-Length")
        if int(declared) > MAX_BODY_BYTES:
            raise BadRequest(413, f"the body may be at most {MAX_BODY_BYTES} bytes")
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest(400, "the client went away")
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            raise BadRequest(413, f"the body may be at most {MAX_BODY_BYTES} bytes")
        if not message.get("more_body", False):
            return bytes(body)


_TRUE = {"true", "1", "on", "yes", "accept"}
_FALSE = {"false", "0", "off", "no", "reject"}


def _choice_from_json(body: bytes) -> frozenset[Category]:
    try:
        data: Any = parse_json(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest(400, "the body is not valid UTF-8") from None
    except JSONInputError as error:
        raise BadRequest(400, f"the body {error}") from None
    if not isinstance(data, dict):
        raise BadRequest(400, 'send a JSON object: {"all": true} or {"categories": {...}}')
    if set(data) == {"all"} and isinstance(data["all"], bool):
        return ALL_GRANTED if data["all"] else ESSENTIAL_ONLY
    if set(data) == {"categories"} and isinstance(data["categories"], dict):
        return _grants(data["categories"])
    raise BadRequest(400, 'send a JSON object: {"all": true} or {"categories": {...}}')


def _choice_from_form(body: bytes) -> frozenset[Category]:
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest(400, "the form is not valid UTF-8 form data") from None
    values: dict[str, object] = {}
    for key, raw in fields:
        text = raw.strip().lower()
        if text not in _TRUE | _FALSE:
            raise BadRequest(400, f"{key}: expected on/off, true/false or accept/reject")
        values[key] = text in _TRUE
    if "all" in values:
        if set(values) != {"all"}:
            raise BadRequest(400, "send either `all` or one field per category")
        return ALL_GRANTED if values["all"] else ESSENTIAL_ONLY
    return _grants(values)


def _grants(choices: Mapping[str, object]) -> frozenset[Category]:
    """Grants from ``{category: bool}``; categories not named are refused."""
    known = {category.value for category in Category}
    for name, value in choices.items():
        if name not in known:
            raise BadRequest(400, f"unknown category {name!r}; expected one of {sorted(known)}")
        if not isinstance(value, bool):
            raise BadRequest(400, f"{name}: expected true or false")
        if name == Category.ESSENTIAL and value is False:
            raise BadRequest(400, "essential cookies cannot be refused")
    return grants_from({c: choices.get(c.value) is True for c in OPTIONAL_CATEGORIES})


def _choice_label(granted: frozenset[Category], action: str) -> str:
    if action == "withdraw":
        return "withdraw"
    if granted == ALL_GRANTED:
        return "accept_all"
    if granted == ESSENTIAL_ONLY:
        return "reject_all"
    return "custom"


def _back_to(headers: Headers, request: ApiRequest, allowed_origins: list[str]) -> str:
    """The page the form was posted from: one of this site (a path), or of an origin in
    ``allowed_origins`` (the embed deployment: an absolute URL); otherwise the home page."""
    referer = headers.get("referer", "")
    # Browsers drop tabs and newlines from URLs and read "\" as "/": "/\evil.example" and
    # "/<tab>/evil.example" would be protocol-relative URLs of another site.
    if not referer.isascii() or any(c <= " " or c in "\\\x7f" for c in referer):
        return "/"
    parts = urlsplit(referer)
    query = f"?{parts.query}" if parts.query else ""
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if origin in allowed_origins:
        return origin + (parts.path or "/") + query
    if request.host and parts.netloc.lower() == request.host.lower() and parts.path:
        # "//evil.example/x" would be a protocol-relative URL to another site.
        return "/" + parts.path.lstrip("/") + query
    return "/"
