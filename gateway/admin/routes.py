"""The admin page's endpoints, below ``<api_prefix>/admin``.

Mounted by the consent API only when ``admin_token`` is set (otherwise every admin path is
the API's own 404). Each request is authorised by ``Authorization: Bearer <token>`` or by
the session cookie the login form sets; anything else is a 401 that shows the login form.
Forms are posted only from this site (``Origin``) and, with the cookie, carry the session's
form token. Failed tokens are limited per client network (``auth.FailureLimiter``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from html import escape
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send

from gateway.admin import pages
from gateway.admin.auth import FailureLimiter, Sessions, Tokens, client_network
from gateway.admin.classify import ClassifyError, classify
from gateway.admin.daily import DailyCounts
from gateway.admin.dashboard import Dashboard
from gateway.analytics.collect import Collector
from gateway.cookies.policy import ADMIN_COOKIE_NAME, CookiePolicy, classified_rules_path
from gateway.endpoint import ApiRequest, ClientError, read_body
from gateway.metrics import Metrics
from gateway.proxies import client_address
from gateway.settings import Settings
from gateway.store.handle import StoreHandle

ADMIN = "/admin"
SESSION_COOKIE = ADMIN_COOKIE_NAME
MAX_FORM_BYTES = 2048
MAX_DAYS = 366
MAX_CONSENT_ID = 64  # longer than any id the gateway issues
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}
logger = logging.getLogger("consent_gateway")


@dataclass(frozen=True, slots=True)
class AdminCall:
    route: str  # below <api_prefix>/admin: "", "/login", ...
    scope: Scope
    receive: Receive
    headers: Headers
    request: ApiRequest


class AdminEndpoints:
    """What ``ConsentAPI`` hands ``<api_prefix>/admin...`` requests to."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: StoreHandle,
        metrics: Metrics,
        cookies: CookiePolicy,
        reload_rules: Callable[[str], Awaitable[bool]],
        daily: DailyCounts,
        collector: Collector | None = None,
        write_pending: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.reload_rules = reload_rules
        self.store = store
        self.metrics = metrics
        self.base = settings.api_prefix + ADMIN
        self.tokens = Tokens(settings.admin_token)
        self.sessions = Sessions(settings.secret, self.tokens, settings.admin_session_minutes * 60)
        self.limiter = FailureLimiter()
        self.templates = pages.Templates.load()
        self.rules_file = classified_rules_path(settings)
        self.dashboard = Dashboard(
            settings,
            self.templates,
            store=store,
            metrics=metrics,
            cookies=cookies,
            daily=daily,
            collector=collector,
            write_pending=write_pending,
            rules_file=self.rules_file,
        )
        self._routes: dict[tuple[str, str], Callable[[AdminCall], Awaitable[Response]]] = {
            ("", "GET"): self._dashboard,
            ("/login", "GET"): self._login_form,
            ("/login", "POST"): self._login,
            ("/logout", "POST"): self._logout,
            ("/classify", "POST"): self._classify,
            ("/records.json", "GET"): self._records_json,
            ("/erase", "POST"): self._erase,
            ("/static/admin.css", "GET"): self._css,
        }

    async def __call__(
        self, route: str, scope: Scope, receive: Receive, send: Send, request: ApiRequest
    ) -> None:
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        below = route[len(ADMIN) :]
        call = AdminCall(below, scope, receive, Headers(scope=scope), request)
        handler = self._routes.get((below, method))
        try:
            if handler is None:
                known = any(path == below for path, _ in self._routes)
                raise ClientError(405 if known else 404, "no such admin page")
            response = await handler(call)
        except ClientError as error:
            response = self._error(error)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        await response(scope, receive, send)

    # -- authorisation -------------------------------------------------------------------

    def _session(self, call: AdminCall) -> str | None:
        value = _cookie(call.headers, SESSION_COOKIE)
        return value if self.sessions.valid(value) else None

    def _authorise(self, call: AdminCall) -> str | None:
        """The session cookie's value (None: a bearer token) when the request may see the
        page; ``ClientError`` 401 or 429 otherwise."""
        token = _bearer(call.headers)
        if token is not None:
            if self._token_matches(call, token):
                return None
            raise ClientError(401, "a valid admin token is needed", headers=_CHALLENGE)
        # Another scheme (Basic, from a proxy's own password in front) is not ours to judge.
        session = self._session(call)
        if session is None:
            raise ClientError(401, "sign in to see the admin page", headers=_CHALLENGE)
        return session

    def _token_matches(self, call: AdminCall, token: str) -> bool:
        network = client_network(client_address(call.scope))
        wait = self.limiter.retry_after(network)
        if wait:
            raise ClientError(
                429,
                "too many failed attempts; try again later",
                headers={"retry-after": str(wait)},
            )
        if self.tokens.match(token) is not None:
            return True
        self.limiter.failed(network)
        logger.warning("admin: a wrong token from %s", network)
        return False

    def _refuse_cross_site(self, call: AdminCall) -> None:
        """Forms are posted from this site's own pages only."""
        origin = call.headers.get("origin")
        if origin is not None:
            host = call.request.host
            if host is None or urlsplit(origin.lower()).netloc != host.lower():
                raise ClientError(403, "cross-site requests are refused")
        elif call.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            raise ClientError(403, "cross-site requests are refused")

    def _check_form_token(self, session: str | None, form: dict[str, str]) -> None:
        if session is not None and not self.sessions.csrf_valid(session, form.get("csrf", "")):
            raise ClientError(403, "the form has expired: reload the page and try again")

    # -- pages ---------------------------------------------------------------------------

    async def _login_form(self, call: AdminCall) -> Response:
        if self._session(call) is not None:
            return _redirect(self.base)
        return self._login_page("", 200)

    def _login_page(
        self, message: str, status: int, headers: dict[str, str] | None = None
    ) -> Response:
        shown = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
        body = self.templates.login.substitute(base=self.base, message=shown)
        return HTMLResponse(body, status_code=status, headers=headers)

    async def _login(self, call: AdminCall) -> Response:
        self._refuse_cross_site(call)
        form = await _form(call)
        if not self._token_matches(call, form.get("token", "")):
            return self._login_page("That token is not right.", 401, dict(_CHALLENGE))
        digest = self.tokens.match(form.get("token", ""))
        assert digest is not None
        response = _redirect(self.base)
        response.set_cookie(
            SESSION_COOKIE,
            self.sessions.issue(digest),
            max_age=self.sessions.max_age,
            path=self.base,
            secure=call.request.secure,
            httponly=True,
            samesite="strict",
        )
        return response

    async def _logout(self, call: AdminCall) -> Response:
        self._refuse_cross_site(call)
        session = self._authorise(call)
        self._check_form_token(session, await _form(call))
        response = _redirect(self.base + "/login")
        response.delete_cookie(
            SESSION_COOKIE,
            path=self.base,
            secure=call.request.secure,
            httponly=True,
            samesite="strict",
        )
        return response

    async def _css(self, call: AdminCall) -> Response:
        return Response(
            self.templates.css,
            media_type="text/css",
            headers={"cache-control": "no-cache"},
        )

    async def _classify(self, call: AdminCall) -> Response:
        self._refuse_cross_site(call)
        session = self._authorise(call)
        form = await _form(call)
        self._check_form_token(session, form)
        name, category = form.get("name", ""), form.get("category", "")
        try:
            await asyncio.to_thread(classify, self.rules_file, name, category)
        except ClassifyError as error:
            raise ClientError(400, str(error)) from None
        except (OSError, ValueError) as error:
            logger.error("admin: could not classify %r: %s", name, error)
            raise ClientError(500, "the rules file could not be written; see the log") from None
        # Read in a thread and put in place on the loop; a failure is logged by the reload.
        if not await self.reload_rules(f"{name!r} classified in the admin page"):
            raise ClientError(500, "classified, but the rules could not be read again")
        logger.info("admin: classified cookie %r as %s", name, category)
        return _redirect(f"{self.base}?classified={quote(name, safe='')}#unknown")

    async def _records_json(self, call: AdminCall) -> Response:
        """Every record of one consent id, as the visitor's own ``GET /records`` gives them
        (for answering a request for access received by e-mail)."""
        self._authorise(call)
        consent_id = _consent_id(parse_qs(call.scope.get("query_string", b"").decode("latin-1")))
        try:
            history = await self.store.call(lambda store: store.consent_history(consent_id))
        except Exception:
            logger.exception("admin: could not read consent records")
            raise ClientError(503, "the database did not answer; see the log") from None
        body = {"consent_id": consent_id, "records": [record.as_json() for record in history]}
        return JSONResponse(
            body,
            headers={
                "cache-control": "no-store",
                "content-disposition": 'attachment; filename="consent-records.json"',
            },
        )

    async def _erase(self, call: AdminCall) -> Response:
        """Erase one consent id's records (GDPR Art. 17), as ``records erase`` does. The id
        is not logged: the erasure leaves no trace of it."""
        self._refuse_cross_site(call)
        session = self._authorise(call)
        form = await _form(call)
        self._check_form_token(session, form)
        if form.get("confirm") != "yes":
            raise ClientError(400, "tick the box to confirm the erasure")
        consent_id = _consent_id({"consent_id": [form.get("consent_id", "")]})
        try:
            erased = await self.store.call(lambda store: store.erase_consent(consent_id))
        except Exception:
            logger.exception("admin: could not erase consent records")
            raise ClientError(503, "the database did not answer; nothing was erased") from None
        self.metrics.records_removed.labels("erased").inc(erased.get("consent_records", 0))
        logger.info("admin: erased the records of one consent id: %s", erased)
        counts = ", ".join(f"{rows} from {table}" for table, rows in sorted(erased.items()))
        return HTMLResponse(
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Erased</title>'
            f'<link rel="stylesheet" href="{self.base}/static/admin.css"></head><body><main>'
            f'<p class="flash" role="status">Erased: {escape(counts or "nothing was stored")}.'
            f'</p><p><a href="{self.base}#records">Back to the admin page</a></p></main>'
            "</body></html>",
            headers={"cache-control": "no-store"},
        )

    async def _dashboard(self, call: AdminCall) -> Response:
        try:
            session = self._authorise(call)
        except ClientError as error:
            if error.status != 401 or _bearer(call.headers) is not None:
                raise
            return self._login_page("", 401, dict(_CHALLENGE))
        query = parse_qs(call.scope.get("query_string", b"").decode("latin-1"))
        days = _days(query.get("days", ["30"])[0])
        consent_id = query.get("consent_id", [""])[0].strip()[:MAX_CONSENT_ID]
        classified = query.get("classified", [""])[0][:256]
        csrf = self.sessions.csrf(session) if session is not None else None
        return HTMLResponse(await self.dashboard.render(days, consent_id, classified, csrf))

    def _error(self, error: ClientError) -> Response:
        body = (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{error.status}'
            f'</title><link rel="stylesheet" href="{self.base}/static/admin.css"></head><body>'
            f'<main><p class="error" role="alert">{escape(error.message)}</p>'
            f'<p><a href="{self.base}">Back to the admin page</a></p></main></body></html>'
        )
        return HTMLResponse(body, status_code=error.status, headers=error.headers)


_CHALLENGE = {"www-authenticate": 'Bearer realm="consent-gateway admin"'}


def _bearer(headers: Headers) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None without one."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _consent_id(query: Mapping[str, list[str]]) -> str:
    """The ``consent_id`` asked for; a 400 without one (or with one longer than any id)."""
    consent_id = query.get("consent_id", [""])[0].strip()
    if not consent_id or len(consent_id) > MAX_CONSENT_ID:
        raise ClientError(400, "name one consent id")
    return consent_id


def _days(raw: str) -> int:
    return min(MAX_DAYS, max(1, int(raw))) if raw.isdigit() and len(raw) < 5 else 30


def _redirect(location: str) -> Response:
    return Response(status_code=303, headers={"location": location})


def _cookie(headers: Headers, name: str) -> str | None:
    for header in headers.getlist("cookie"):
        for part in header.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name:
                return value
    return None


async def _form(call: AdminCall) -> dict[str, str]:
    media = call.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise ClientError(415, "send an HTML form post")
    body = await read_body(call.headers, call.receive, MAX_FORM_BYTES)
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        raise ClientError(400, "the form is not valid UTF-8 form data") from None
