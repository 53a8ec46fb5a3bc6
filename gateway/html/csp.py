"""Reading a page's Content-Security-Policy: may the gateway's tags load, and with which nonce?

The tags inserted into a page are a same-origin stylesheet and a same-origin deferred script
(which then calls the consent API), plus a no-script form posting to it. Every enforced policy
(``Content-Security-Policy``; ``-Report-Only`` never blocks) must allow them, with the
matching rules of CSP Level 3 as Chromium implements them: effective directive
(``script-src-elem`` → ``script-src`` → ``default-src``), nonces, ``'strict-dynamic'``
(then only a nonce admits a parser-inserted script), ``'self'``, host and scheme sources.
When a policy would block the banner, the caller skips the injection instead of breaking the
page. A nonce comes from the policy itself or from the app (``scope["state"]["csp_nonce"]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

_NONCE = re.compile(r"'nonce-([A-Za-z0-9+/_\-]+=*)'", re.IGNORECASE)
_HOST_SOURCE = re.compile(
    r"^(?:(?P<scheme>[a-z][a-z0-9+.\-]*)://)?"
    r"(?P<host>\*|(?:\*\.)?[a-z0-9\-]+(?:\.[a-z0-9\-]+)*)"
    r"(?::(?P<port>[0-9]+|\*))?"
    r"(?P<path>/[^;,\s]*)?$",
    re.IGNORECASE,
)
_SCHEME_SOURCE = re.compile(r"^[a-z][a-z0-9+.\-]*:$", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

SCRIPT_DIRECTIVES = ("script-src-elem", "script-src", "default-src")
STYLE_DIRECTIVES = ("style-src-elem", "style-src", "default-src")
CONNECT_DIRECTIVES = ("connect-src", "default-src")
FORM_DIRECTIVES = ("form-action",)  # no fallback to default-src

Policy = dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the page was served from, as the browser sees it."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, scheme: str, host_header: str | None) -> Origin:
        host, _, port = (host_header or "").rpartition(":")
        if not host or "]" in port:  # no port given (or an IPv6 literal without one)
            host, port = host_header or "", ""
        default = _DEFAULT_PORTS.get(scheme, 80)
        return cls(scheme, host.strip("[]").lower(), int(port) if port.isdigit() else default)


@dataclass(frozen=True, slots=True)
class Verdict:
    """May the banner go into the page: ``allowed``, with ``nonce`` on its scripts; when not,
    ``blocked_by`` names the directive that refuses it. ``form`` says whether the no-script
    form may post (``form-action``)."""

    allowed: bool
    nonce: str | None = None
    blocked_by: str | None = None
    form: bool = True


ALLOWED = Verdict(True)


def parse(value: str) -> list[Policy]:
    """The policies in one header value (comma-separated), each directive's first
    occurrence winning, names lower-cased, sources as written."""
    policies: list[Policy] = []
    for serialized in value.split(","):
        policy: Policy = {}
        for token in serialized.split(";"):
            parts = token.split()
            if not parts:
                continue
            name = parts[0].lower()
            if name not in policy:
                policy[name] = tuple(parts[1:])
        if policy:
            policies.append(policy)
    return policies


def verdict(
    enforced: tuple[str, ...],
    report_only: tuple[str, ...] = (),
    app_nonce: str | None = None,
    *,
    origin: Origin,
    script_path: str,
    style_path: str,
    api_path: str,
) -> Verdict:
    """Whether every enforced policy lets the banner's tags load and run (the injector
    remembers the answers)."""
    if not enforced and not report_only and app_nonce is None:
        return ALLOWED
    return _verdict(enforced, report_only, app_nonce, origin, script_path, style_path, api_path)


def _verdict(
    enforced: tuple[str, ...],
    report_only: tuple[str, ...],
    app_nonce: str | None,
    origin: Origin,
    script_path: str,
    style_path: str,
    api_path: str,
) -> Verdict:
    policies = [policy for value in enforced for policy in parse(value)]
    reports = [policy for value in report_only for policy in parse(value)]
    for policy in policies:
        sandbox = policy.get("sandbox")
        if sandbox is not None and "allow-scripts" not in {s.lower() for s in sandbox}:
            return Verdict(False, blocked_by="sandbox")
    # Any nonce first (even where 'self' would do, it spares report-only violations).
    candidates: list[str | None] = [app_nonce] if app_nonce else []
    for policy in policies + reports:
        candidates.extend(nonces(effective(policy, SCRIPT_DIRECTIVES)[1] or ()))
    candidates.append(None)
    chosen: list[str | None] = []
    blocked_by = "script-src"
    for nonce in dict.fromkeys(candidates):
        refusing = _refusing_script(policies, origin, script_path, nonce)
        if refusing is None:
            chosen.append(nonce)
            break
        blocked_by = refusing
    if not chosen:
        return Verdict(False, blocked_by=blocked_by)
    # The stylesheet carries the chosen nonce too (a page's nonce usually serves its styles
    # as well), and the banner must reach the consent API.
    nonce = chosen[0]
    for directives, path in ((STYLE_DIRECTIVES, style_path), (CONNECT_DIRECTIVES, api_path)):
        for policy in policies:
            name, sources = effective(policy, directives)
            if sources is None or allows_url(sources, origin, path):
                continue
            if directives is STYLE_DIRECTIVES and nonce is not None and nonce in nonces(sources):
                continue
            return Verdict(False, blocked_by=name)
    form = all(
        allows_url(policy["form-action"], origin, api_path)
        for policy in policies
        if "form-action" in policy
    )
    return Verdict(True, nonce=nonce, form=form)


def _refusing_script(
    policies: list[Policy], origin: Origin, path: str, nonce: str | None
) -> str | None:
    """The directive refusing a parser-inserted ``<script src=path nonce=nonce>``, if any."""
    for policy in policies:
        name, sources = effective(policy, SCRIPT_DIRECTIVES)
        if sources is None:
            continue
        if nonce is not None and nonce in nonces(sources):
            continue
        if any(source.lower() == "'strict-dynamic'" for source in sources):
            return name + " 'strict-dynamic'"
        if not allows_url(sources, origin, path):
            return name
    return None


def effective(policy: Policy, directives: tuple[str, ...]) -> tuple[str, tuple[str, ...] | None]:
    """The first of ``directives`` the policy has, and its sources (None: no restriction)."""
    for name in directives:
        if name in policy:
            return name, policy[name]
    return directives[0], None


def nonces(sources: tuple[str, ...]) -> list[str]:
    return [match.group(1) for source in sources if (match := _NONCE.fullmatch(source))]


def allows_url(sources: tuple[str, ...], origin: Origin, path: str) -> bool:
    """Whether a same-origin URL with ``path`` matches the source list."""
    return any(_matches(source, origin, path) for source in sources)


def _matches(source: str, origin: Origin, path: str) -> bool:
    lowered = source.lower()
    if lowered == "'self'":
        return True  # the URL is the page's own origin
    if lowered.startswith("'"):
        return False  # 'none', nonces, hashes and other keywords match no URL
    if _SCHEME_SOURCE.match(source):
        return _scheme_match(lowered[:-1], origin.scheme) != _NONE
    match = _HOST_SOURCE.match(source)
    if match is None:
        return False
    scheme = (match.group("scheme") or origin.scheme).lower()
    scheme_match = _scheme_match(scheme, origin.scheme)
    port_match = _port_match(match.group("port"), scheme, origin)
    # An upgrade (http: to https:, port 80 to 443) must come with the other one.
    if scheme_match == _UPGRADE and port_match not in (_UPGRADE, _WILDCARD):
        return False
    if port_match == _UPGRADE and scheme_match != _UPGRADE:
        return False
    if not scheme_match or not port_match:
        return False
    host = match.group("host").lower()
    if host.startswith("*."):
        if not origin.host.endswith(host[1:]):
            return False
    elif host != "*" and origin.host != host:
        return False
    source_path = unquote(match.group("path") or "")
    if not source_path or source_path == "/":
        return True
    if source_path.endswith("/"):
        return path.startswith(source_path)
    return path == source_path


_NONE, _UPGRADE, _WILDCARD, _EXACT = range(4)


def _scheme_match(allowed: str, scheme: str) -> int:
    if allowed == scheme:
        return _EXACT
    if (allowed, scheme) in {("http", "https"), ("ws", "wss")}:
        return _UPGRADE
    return _NONE


def _port_match(port: str | None, scheme: str, origin: Origin) -> int:
    if port == "*":
        return _WILDCARD
    if port is None:
        if origin.port == _DEFAULT_PORTS.get(origin.scheme):
            return _WILDCARD
        wanted = _DEFAULT_PORTS.get(scheme, 0)
    else:
        wanted = int(port)
        if wanted == origin.port:
            return _EXACT
    if wanted == 80 and origin.port == 443:
        return _UPGRADE
    return _NONE
