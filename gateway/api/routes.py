"""The consent API under ``/_consent``: read, save and withdraw a visitor's choice.

Saving a choice records it in the store first (proof of consent, GDPR Art. 7(1)); only
then does the visitor get the signed cookie. If the store cannot take the record, the
choice is not applied and the visitor keeps the regime's default: nothing is granted that
could not be proven.

``ConsentAPI.routes`` is the table of what it answers: a path and its methods, each with its
handler (HEAD is answered as GET); the banner's files and ``/collect/`` are mounted beside it.
``/health`` (the process serves) and ``/ready`` (the store and whatever
``readiness_checks`` holds answer) are for load balancers and orchestrators.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from gateway.analytics.salts import DailySalts, visitor_hash
from gateway.consent.agents import AgentClassifier
from gateway.consent.policy import ConsentPolicy
from gateway.consent.state import (
    ALL_GRANTED,
    ESSENTIAL_ONLY,
    OPTIONAL_CATEGORIES,
    Category,
    ConsentState,
    Decision,
    grants_from,
    new_consent_id,
)
from gateway.cookies import declaration
from gateway.cookies.enforce import Header, expire_refused
from gateway.cookies.parse import build_set_cookie, expiry_headers, parse_cookie_header
from gateway.cookies.policy import CookiePolicy
from gateway.endpoint import ApiRequest, ClientError, Cors, read_body
from gateway.html.banner import Banner
from gateway.json_input import JSONInputError, parse_json
from gateway.later import LaterWrite
from gateway.metrics import CONTENT_TYPE, Metrics
from gateway.settings import Settings
from gateway.store import ConsentRecord
from gateway.store.base import LAYERS
from gateway.store.handle import StoreHandle

MAX_BODY_BYTES = 4096
MAX_PATH = 1024  # the longest page path a record keeps
STATE_METHODS = "GET, POST, DELETE"  # what a preflight to /state may ask for
RECORDS_METHODS = "GET, DELETE"  # and to /records
WHERE = frozenset({"layer", "path", "language"})  # where a choice was given, beside it
SHOWN_LAYERS = frozenset({"banner", "preferences", "form"})  # a record hashes these banners
SEEN_FLUSH_SECONDS = 10.0  # seen cookie rules are written this long after the first of a batch
DECLARATION_CACHE_SECONDS = 60.0  # how long one replica reuses the seen rules it read
DECLARATION_CACHE_CONTROL = "public, max-age=300"
READY_SECONDS = 5.0  # a readiness check that takes longer has failed (probes time out too)
# The same failure of a readiness check is logged again at most this often: ``/ready`` is
# public, and a caller asking in a loop while a check fails must not fill the log.
READY_LOG_SECONDS = 60.0
logger = logging.getLogger("consent_gateway")


class CollectEndpoints(Protocol):
    """The analytics collection endpoints (``gateway.analytics.collect``), which the API
    mounts under ``/collect/``, and the admin page (``gateway.admin``) under ``/admin``."""

    async def __call__(
        self, route: str, scope: Scope, receive: Receive, send: Send, request: ApiRequest
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Call:
    """One request to a route: ``route`` is its path below the API prefix."""

    route: str
    scope: Scope
    receive: Receive
    headers: Headers
    request: ApiRequest


Handler = Callable[[Call], Awaitable[Response]]
# Raises unless the part it checks works; the name it is registered under is what a failed
# readiness answer names (the error itself is logged, never shown to the public).
ReadinessCheck = Callable[[], Awaitable[object]]
COLLECT = "/collect/"
ADMIN = "/admin"  # without an admin page, its paths are this API's 404 like any unknown one


class ConsentAPI:
    """ASGI handler for every path under the API prefix."""

    def __init__(
        self,
        settings: Settings,
        consent: ConsentPolicy,
        cookies: CookiePolicy,
        agents: AgentClassifier,
        metrics: Metrics,
        store: StoreHandle,
        banner: Banner,
        collect: CollectEndpoints | None = None,
        admin: CollectEndpoints | None = None,
    ) -> None:
        self.settings = settings
        self.consent = consent
        self.cookies = cookies
        self.agents = agents
        self.metrics = metrics
        self.store = store
        self.banner = banner
        self.collect = collect
        self.admin = admin  # the admin page (gateway.admin), only with an admin_token
        self.prefix = settings.api_prefix
        self.cors = Cors(settings.allowed_origins)
        self.routes: dict[str, dict[str, Handler]] = {
            "/state": {
                "GET": self._get_state,
                "POST": self._post_state,
                "DELETE": self._delete_state,
                "OPTIONS": self._preflight_state,
            },
            "/records": {
                "GET": self._get_records,
                "DELETE": self._delete_records,
                "OPTIONS": self._preflight_records,
            },
            "/declaration": {"GET": self._get_declaration},
            "/health": {"GET": self._get_health},
            "/ready": {"GET": self._get_ready},
        }
        self.readiness_checks: dict[str, ReadinessCheck] = {"store": self._store_answers}
        self._ready_logged: dict[str, tuple[str, float]] = {}  # failure and when, by check
        if settings.metrics:
            self.routes["/metrics"] = {"GET": self._get_metrics}
        self._asset_methods: dict[str, Handler] = {"GET": self._get_asset}
        banner.configure(settings)
        vendors = settings.declared_vendors
        unknown = declaration.unknown_vendors(cookies.classifier.rules, vendors)
        if unknown:
            raise ValueError(
                f"declared_vendors: no built-in rules name the vendor(s) {unknown}; use the "
                "vendor names of rules/cookies/*.toml (`consent-gateway classify NAME` shows them)"
            )
        self.seen_flush_seconds = SEEN_FLUSH_SECONDS
        self._seen_read_at = -DECLARATION_CACHE_SECONDS
        self.seen_writes = LaterWrite(self._write_seen, lambda: self.seen_flush_seconds)
        self.salts = DailySalts(store.call)  # visitors vouching for seen rules are hashed
        if settings.declare_seen_cookies:
            cookies.seen_rules.on_pending = self.seen_writes.soon

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, request: ApiRequest
    ) -> None:
        route = scope["path"][len(self.prefix) :]
        if self.collect is not None and route.startswith(COLLECT):
            await self.collect(route, scope, receive, send, request)
            return
        if self.admin is not None and (route == ADMIN or route.startswith(ADMIN + "/")):
            await self.admin(route, scope, receive, send, request)
            return
        try:
            handler = self._handler(route, scope["method"])
            response = await handler(Call(route, scope, receive, Headers(scope=scope), request))
        except ClientError as error:
            response = JSONResponse(
                {"error": error.message}, status_code=error.status, headers=error.headers
            )
        # Never read as a script or a style, whatever a browser would guess from the body.
        response.headers["x-content-type-options"] = "nosniff"
        await response(scope, receive, send)

    def _handler(self, route: str, method: str) -> Handler:
        """The handler of ``route`` for ``method`` (HEAD as GET): 404 for a path no route
        has, 405 with ``Allow`` for a method the route does not take."""
        methods = self.routes.get(route)
        if methods is None and self.banner.serves(route):
            methods = self._asset_methods
        if methods is None:
            raise ClientError(404, f"no such consent endpoint: {self.prefix}{route}")
        handler = methods.get("GET" if method == "HEAD" else method)
        if handler is None:
            allowed = ", ".join(m for name in methods for m in _with_head(name))
            raise ClientError(
                405, f"{method} is not allowed here; use {allowed}", headers={"allow": allowed}
            )
        return handler

    async def _get_state(self, call: Call) -> Response:
        return self._with_cors(JSONResponse(call.request.state.as_json()), call.headers)

    async def _post_state(self, call: Call) -> Response:
        self._refuse_cross_site(call.headers, call.request)
        choice = await self._read_choice(call.headers, call.receive)
        return await self._save(call.headers, call.request, choice)

    async def _delete_state(self, call: Call) -> Response:
        self._refuse_cross_site(call.headers, call.request)
        body = await read_body(call.headers, call.receive, MAX_BODY_BYTES)
        where = _where_from_json(body) if body.strip() else Where()
        choice = Choice(ESSENTIAL_ONLY, "withdraw", where)
        return await self._save(call.headers, call.request, choice)

    async def _preflight_state(self, call: Call) -> Response:
        response = Response(status_code=204)
        response.raw_headers += self.cors.preflight(call.headers.get("origin"), STATE_METHODS)
        return response

    async def _get_records(self, call: Call) -> Response:
        """Every record of the visitor's consent id (GDPR Art. 15): only to this site's
        pages, with a consent cookie that verifies."""
        self._refuse_cross_site(call.headers, call.request)
        consent_id = self._records_owner(call)
        records = []
        if consent_id is not None:
            try:
                history = await self.store.call(lambda store: store.consent_history(consent_id))
            except Exception:
                logger.exception("could not read a visitor's consent records")
                self.metrics.store_errors.labels("consent_history").inc()
                raise ClientError(503, "the records could not be read; please try again") from None
            records = [record.as_json() for record in history]
        response = JSONResponse(
            {"consent_id": consent_id, "records": records}, headers={"cache-control": "no-store"}
        )
        return self._with_cors(response, call.headers)

    async def _delete_records(self, call: Call) -> Response:
        """Erase the visitor's records (GDPR Art. 17) and expire the consent cookie."""
        self._refuse_cross_site(call.headers, call.request)
        request = call.request
        consent_id = self._records_owner(call)
        if consent_id is None:
            raise ClientError(404, "this browser holds no valid consent cookie: nothing to erase")
        try:
            erased = await self.store.call(lambda store: store.erase_consent(consent_id))
        except Exception:
            logger.exception("could not erase a visitor's consent records")
            self.metrics.store_errors.labels("erase_consent").inc()
            raise ClientError(503, "the records could not be erased; please try again") from None
        self.metrics.records_removed.labels("erased").inc(erased.get("consent_records", 0))
        response = JSONResponse(
            {"consent_id": consent_id, "erased": erased}, headers={"cache-control": "no-store"}
        )
        sent = [n for n in request.cookie_names if n in self.consent.consent_cookie_names]
        response.raw_headers.extend(
            (b"set-cookie", line.encode("latin-1"))
            for name in dict.fromkeys(sent or [self.consent.consent_cookie_name(request.secure)])
            for line in expiry_headers(name, request.host, "/", secure=request.secure)
        )
        return self._with_cors(response, call.headers)

    def _records_owner(self, call: Call) -> str | None:
        """The consent id whose records this browser may read and erase: its current
        choice's, or that of a consent cookie this gateway signed under an earlier
        ``policy_version`` (still the visitor's own)."""
        if call.request.state.consent_id is not None:
            return call.request.state.consent_id
        names = self.consent.consent_cookie_names
        for name, value in parse_cookie_header(call.headers.get("cookie", "")):
            if name in names:
                found = self.consent.codec.signed_consent_id(value)
                if found is not None:
                    return found
        return None

    async def _preflight_records(self, call: Call) -> Response:
        response = Response(status_code=204)
        response.raw_headers += self.cors.preflight(call.headers.get("origin"), RECORDS_METHODS)
        return response

    async def _get_asset(self, call: Call) -> Response:
        headers = call.headers
        asset = self.banner.response(
            call.route, headers.get("if-none-match"), headers.get("accept-encoding")
        )
        assert asset is not None  # the route is one of the banner's (``Banner.serves``)
        return self._with_cors(asset, headers)

    async def _get_declaration(self, call: Call) -> Response:
        listed = await self._declaration()
        response = JSONResponse(listed, headers={"cache-control": DECLARATION_CACHE_CONTROL})
        return self._with_cors(response, call.headers)

    async def _get_health(self, call: Call) -> Response:
        """Liveness: an answer at all is the news."""
        return JSONResponse({"status": "ok"}, headers={"cache-control": "no-store"})

    async def _get_ready(self, call: Call) -> Response:
        """Readiness: 200 when every check passes, 503 naming the checks that failed."""
        names = list(self.readiness_checks)
        results = await asyncio.gather(
            *(self._passes(name, self.readiness_checks[name]) for name in names)
        )
        failed = [name for name, passed in zip(names, results, strict=True) if not passed]
        body: dict[str, object] = {"ready": not failed, "checked": names}
        if failed:
            body["failed"] = failed
        return JSONResponse(
            body, status_code=503 if failed else 200, headers={"cache-control": "no-store"}
        )

    async def _passes(self, name: str, check: ReadinessCheck) -> bool:
        try:
            async with asyncio.timeout(READY_SECONDS):
                await check()
        except Exception as error:
            reason = str(error) or type(error).__name__
            now = time.monotonic()
            last = self._ready_logged.get(name)
            if last is None or last[0] != reason or now - last[1] >= READY_LOG_SECONDS:
                self._ready_logged[name] = (reason, now)
                logger.warning("not ready: %s: %s", name, reason)
            return False
        self._ready_logged.pop(name, None)
        return True

    async def _store_answers(self) -> None:
        await self.store.call(lambda store: store.ping())

    async def _get_metrics(self, call: Call) -> Response:
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE)

    async def _declaration(self) -> declaration.DeclarationJSON:
        """The cookie declaration, with the seen rules of every replica sharing the store
        (read at most once a minute; when the store fails, this replica's own)."""
        settings = self.settings
        seen = self.cookies.seen_rules
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
            self.cookies.classifier.rules,
            seen.known,
            set(settings.declared_vendors),
            include_seen=settings.declare_seen_cookies,
        )

    async def _write_seen(self) -> None:
        seen = self.cookies.seen_rules
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
        visitors = self.settings.declare_seen_visitors
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
            raise ClientError(403, "cross-site consent changes are refused")
        if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            raise ClientError(403, "cross-site consent changes are refused")

    def _origin_allowed(self, origin: str, request: ApiRequest) -> bool:
        """A configured origin, or this site's (the visitor's host, as a trusted proxy
        names it)."""
        if self.cors.allows(origin):
            return True
        return request.host is not None and urlsplit(origin.lower()).netloc == request.host.lower()

    async def _read_choice(self, headers: Headers, receive: Receive) -> Choice:
        body = await read_body(headers, receive, MAX_BODY_BYTES)
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type == "application/x-www-form-urlencoded":
            return Choice(_choice_from_form(body), "form", Where(layer="form"))
        if media_type in ("application/json", ""):
            return _choice_from_json(body)
        raise ClientError(415, "send application/json or an HTML form post")

    def _record(
        self, headers: Headers, request: ApiRequest, choice: Choice, new: ConsentState
    ) -> ConsentRecord:
        """The proof of this decision: what was chosen, how, where and on which banner."""
        old = request.state
        where = choice.where
        language = where.language if where.language in self.banner.languages else None
        if language is None and where.layer in SHOWN_LAYERS:
            language = self.settings.default_language
        shown = (
            self.banner.shown_hash(language) if where.layer in SHOWN_LAYERS and language else None
        )
        assert new.consent_id is not None and new.decided_at is not None
        return ConsentRecord(
            consent_id=new.consent_id,
            decided_at=new.decided_at,
            policy_version=new.policy_version,
            categories=new.categories(),
            regime=old.regime.value,
            source=new.source.value,
            action=choice.action,
            country=old.country,
            subdivision=old.subdivision,
            user_agent=self._agent_summary(headers),
            method=choice.method,
            path=where.path or _page_path(headers, request),
            layer=where.layer,
            banner_hash=shown,
            language=language,
        )

    async def _save(self, headers: Headers, request: ApiRequest, choice: Choice) -> Response:
        settings = self.settings
        if settings.consent_source != "gateway":
            # The choice lives in the site's own CMP cookie; one saved here would be ignored.
            raise ClientError(
                409,
                "choices are made in this site's own consent banner "
                f"({', '.join(settings.consent_source)}), not through this API",
            )
        old = request.state
        granted, form = choice.granted, choice.method == "form"
        decision = Decision(
            consent_id=old.consent_id or new_consent_id(),
            granted=granted,
            policy_version=settings.policy_version,
            decided_at=datetime.now(UTC),
        )
        new = self.consent.decided_state(
            decision, old.regime, old.country, old.subdivision, old.gpc, old.bot
        )
        record = self._record(headers, request, choice, new)
        try:
            await self.store.call(lambda store: store.record_consent(record))
        except Exception:
            logger.exception("could not record a consent decision; the choice was not applied")
            self.metrics.store_errors.labels("record_consent").inc()
            raise ClientError(503, "the choice could not be recorded; please try again") from None
        label = _choice_label(granted, choice.action)
        self.metrics.decisions.labels(old.regime.value, label).inc()
        name = self.consent.consent_cookie_name(request.secure)
        cookie = build_set_cookie(
            name,
            self.consent.codec.encode(decision),
            max_age=self.consent.codec.max_age_seconds,
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
            self.cookies,
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
        sent = [n for n in request.cookie_names if n in self.consent.consent_cookie_names]
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
        info = self.agents.describe(user_agent)
        major = f" {info.browser_major}" if info.browser_major else ""
        return f"{info.browser_family}{major} / {info.os_family} / {info.device_class}"

    def _with_cors(self, response: Response, headers: Headers) -> Response:
        response.raw_headers += self.cors.headers(headers.get("origin"))
        return response


@dataclass(frozen=True, slots=True)
class Where:
    """Where a choice was given, as the banner (or an API client) says: the UI layer, the
    page's path and the banner's language. Missing: ``api``, the Referer's path, none."""

    layer: str = "api"
    path: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    """A choice as sent: the grants, how it was made (``store.base.METHODS``) and where."""

    granted: frozenset[Category]
    method: str
    where: Where

    @property
    def action(self) -> str:
        """``withdraw`` or ``grant``, as records before the method had it."""
        return "withdraw" if self.method == "withdraw" else "grant"


def _where_from_json(body: bytes) -> Where:
    """``Where`` from a JSON body that holds nothing else (a withdrawal's)."""
    data = _json_object(body)
    where, rest = _where(data)
    if rest:
        raise ClientError(400, f"unexpected fields {sorted(rest)}; expected {sorted(WHERE)}")
    return where


def _where(data: Mapping[str, Any]) -> tuple[Where, dict[str, Any]]:
    """The ``layer``, ``path`` and ``language`` of a JSON choice, checked, and the other
    fields. Unknown layers are refused (400) rather than recorded as something else."""
    layer = data.get("layer", "api")
    if layer not in LAYERS:
        raise ClientError(400, f"layer: expected one of {list(LAYERS)}")
    path = data.get("path")
    if path is not None:
        if not isinstance(path, str) or not _is_path(path):
            raise ClientError(400, f"path: expected a path on this site, at most {MAX_PATH} bytes")
        path = _without_query(path)
    language = data.get("language")
    if language is not None and not (
        isinstance(language, str) and len(language) <= 16 and language.isascii()
    ):
        raise ClientError(400, "language: expected a language code")
    rest = {key: value for key, value in data.items() if key not in WHERE}
    return Where(layer, path, language), rest


def _is_path(path: str) -> bool:
    return (
        path.startswith("/")
        and not path.startswith("//")
        and len(path) <= MAX_PATH
        and path.isascii()
        and all(" " < c < "\x7f" for c in path)
    )


def _without_query(path: str) -> str:
    """A page's path as a record keeps it: no query or fragment, which may hold personal
    data (a search, an e-mail address in a link)."""
    return path.split("?", 1)[0].split("#", 1)[0] or "/"


def _page_path(headers: Headers, request: ApiRequest) -> str | None:
    """The path of the page a choice came from, by its Referer when that is this site."""
    referer = headers.get("referer", "")
    parts = urlsplit(referer) if referer.isascii() else None
    if parts is None or not request.host or parts.netloc.lower() != request.host.lower():
        return None
    path = parts.path or "/"
    return path if _is_path(path) else None


def _with_head(method: str) -> tuple[str, ...]:
    """``method`` as ``Allow`` lists it: GET with HEAD, which is answered as GET."""
    return (method, "HEAD") if method == "GET" else (method,)


_TRUE = {"true", "1", "on", "yes", "accept"}
_FALSE = {"false", "0", "off", "no", "reject"}


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data: Any = parse_json(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ClientError(400, "the body is not valid UTF-8") from None
    except JSONInputError as error:
        raise ClientError(400, f"the body {error}") from None
    if not isinstance(data, dict):
        raise ClientError(400, 'send a JSON object: {"all": true} or {"categories": {...}}')
    return data


def _choice_from_json(body: bytes) -> Choice:
    """``{"all": bool}`` or ``{"categories": {...}}``, with where it was given (``_where``);
    ``"gpc": true`` beside ``"all": true`` grants everything but marketing, as the visitor's
    Global Privacy Control asks (method ``gpc``)."""
    where, data = _where(_json_object(body))
    gpc = data.pop("gpc", False)
    if not isinstance(gpc, bool):
        raise ClientError(400, "gpc: expected true or false")
    if set(data) == {"all"} and isinstance(data["all"], bool):
        if not data["all"]:
            return Choice(ESSENTIAL_ONLY, "reject_all", where)
        if gpc:
            return Choice(ALL_GRANTED - {Category.MARKETING}, "gpc", where)
        return Choice(ALL_GRANTED, "gpc" if where.layer == "gpc" else "accept_all", where)
    if set(data) == {"categories"} and isinstance(data["categories"], dict):
        granted = _grants(data["categories"])
        return Choice(granted, "gpc" if where.layer == "gpc" else "custom", where)
    raise ClientError(400, 'send a JSON object: {"all": true} or {"categories": {...}}')


def _choice_from_form(body: bytes) -> frozenset[Category]:
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise ClientError(400, "the form is not valid UTF-8 form data") from None
    values: dict[str, object] = {}
    for key, raw in fields:
        text = raw.strip().lower()
        if text not in _TRUE | _FALSE:
            raise ClientError(400, f"{key}: expected on/off, true/false or accept/reject")
        values[key] = text in _TRUE
    if "all" in values:
        if set(values) != {"all"}:
            raise ClientError(400, "send either `all` or one field per category")
        return ALL_GRANTED if values["all"] else ESSENTIAL_ONLY
    return _grants(values)


def _grants(choices: Mapping[str, object]) -> frozenset[Category]:
    """Grants from ``{category: bool}``; categories not named are refused."""
    known = {category.value for category in Category}
    for name, value in choices.items():
        if name not in known:
            raise ClientError(400, f"unknown category {name!r}; expected one of {sorted(known)}")
        if not isinstance(value, bool):
            raise ClientError(400, f"{name}: expected true or false")
        if name == Category.ESSENTIAL and value is False:
            raise ClientError(400, "essential cookies cannot be refused")
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
