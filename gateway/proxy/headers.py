"""The headers a request and a response carry across the proxy.

Hop-by-hop headers (RFC 9110 section 7.6.1) belong to one connection and are removed, with
every header a ``Connection`` header names, except the ones the proxy writes itself: a
client could otherwise name ``X-Forwarded-For`` or ``Host`` in ``Connection`` and strip what
the proxy tells the upstream (Traefik GHSA-62c8-mh53-4cqv, Apache CVE-2022-31813). The
forwarding headers are rebuilt from the identity the middleware resolved
(``gateway.proxies``): the incoming ones are kept only from a trusted proxy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from gateway.html.content_coding import SUPPORTED
from gateway.proxies import FORWARDED, FORWARDED_FOR, ProxyPeer, forwarded_elements

Headers = list[tuple[bytes, bytes]]
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"proxy-connection",
        b"keep-alive",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# What the proxy writes itself: never removed because a client's Connection header names it.
OWN = frozenset(
    {
        b"host",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"forwarded",
        b"content-length",
        b"transfer-encoding",
    }
)
# Replaced, whatever the client sent: the proxy frames the body and answers 100-continue.
_REPLACED = frozenset(
    {
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"forwarded",
        b"content-length",
        b"expect",
    }
)
_FRONT = frozenset({b"date", b"server"})
_RESPONSE_DROPPED = HOP_BY_HOP | _FRONT
_REQUEST_DROPPED = HOP_BY_HOP | _REPLACED
_HTML = (b"text/html", b"text/*", b"*/*")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 section 5.6.2


def connection_named(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    """The header names the ``Connection`` headers list, in lower case."""
    names: set[bytes] = set()
    for name, value in headers:
        if name == b"connection":
            names.update(part.strip().lower() for part in value.split(b",") if part.strip())
    return names


def response_headers(headers: Sequence[tuple[bytes, bytes]]) -> Headers:
    """An upstream response's headers without its hop-by-hop ones (the server in front
    frames the body again: ``Content-Length`` stays, ``Transfer-Encoding`` goes), nor its
    ``Date`` and ``Server``, which the server in front writes (as nginx hides them)."""
    dropped = _RESPONSE_DROPPED
    named = connection_named(headers)
    if not named <= dropped:  # "Connection: keep-alive" names nothing more
        dropped = dropped | named
    return [(name, value) for name, value in headers if name not in dropped]


def request_headers(
    headers: Sequence[tuple[bytes, bytes]],
    *,
    peer: str,
    proxy: ProxyPeer | None,
    proxy_kind: str,
    client: str,
    scheme: str,
    method: str,
    accept: bytes | None,
) -> Headers:
    """The request headers the upstream gets.

    ``headers`` are the scope's (Host and client as the middleware resolved them); ``peer``
    is the address that connected, ``proxy`` what a trusted proxy's connection looked like
    (``scope["state"]["proxy"]``, None when the peer is not trusted), ``proxy_kind`` which
    headers the trusted proxies write (``x-forwarded`` or ``forwarded``)."""
    dropped = _REQUEST_DROPPED
    named = connection_named(headers) - OWN
    if not named <= dropped:
        dropped = dropped | named
    html: bool | None = None  # whether the response may be a page: asked when it matters
    result: Headers = []
    host: bytes | None = None
    chains: dict[bytes, list[bytes]] = {FORWARDED_FOR: [], FORWARDED: []}
    for name, value in headers:
        if name in chains:
            chains[name].append(value)
        if name == b"host":
            host = value
        if name in dropped or name == b"host":
            continue
        if name == b"accept-encoding":
            if html is None:
                html = may_be_html(method, accept)
            if html:
                value = decodable_encodings(value)
        result.append((name, value))
    # Host as the gateway received it (from a trusted proxy, before its X-Forwarded-Host).
    original_host = proxy.host if proxy is not None else (host.decode("latin-1") if host else None)
    if original_host:
        result.insert(0, (b"host", original_host.encode("latin-1")))
    trusted = proxy is not None
    hops: list[str] = []
    if trusted and proxy_kind == "x-forwarded":
        hops = [hop.strip() for value in chains[FORWARDED_FOR] for hop in _text(value).split(",")]
        hops = [hop for hop in hops if hop]
    elif trusted:
        elements = [e for v in chains[FORWARDED] for e in forwarded_elements(_text(v))]
        hops = [element.get("for", "unknown") for element in elements]
    if not hops and client != peer:
        hops = [client]
    result.append((b"x-forwarded-for", ", ".join([*hops, peer]).encode("latin-1")))
    result.append((b"x-forwarded-proto", scheme.encode("latin-1")))
    if host is not None:
        result.append((b"x-forwarded-host", host))
    own = f"for={_node(peer)};proto={scheme}"
    if host is not None:
        own += f";host={_quoted(host.decode('latin-1'))}"
    if trusted and proxy_kind == "forwarded" and chains[FORWARDED]:
        earlier = ", ".join(_text(value) for value in chains[FORWARDED])
    else:
        earlier = ", ".join(f"for={_node(hop)}" for hop in hops)
    result.append((FORWARDED, (f"{earlier}, {own}" if earlier else own).encode("latin-1")))
    return result


def accept_of(headers: Sequence[tuple[bytes, bytes]]) -> bytes | None:
    values = [value for name, value in headers if name == b"accept"]
    return b", ".join(values) if values else None


def may_be_html(method: str, accept: bytes | None) -> bool:
    """Whether the response may be a page the gateway rewrites: GET or HEAD accepting HTML
    (no ``Accept`` accepts everything)."""
    if method not in ("GET", "HEAD"):
        return False
    if accept is None:
        return True
    for item in accept.lower().split(b","):
        media, _, params = item.strip().partition(b";")
        if media.strip() in _HTML and not _refused(params):
            return True
    return False


def decodable_encodings(accept_encoding: bytes) -> bytes:
    """The codings of ``Accept-Encoding`` the gateway decodes (``identity`` when none is),
    so that a page it rewrites comes compressed in a coding it can undo."""
    kept = []
    for item in accept_encoding.split(b","):
        coding, _, params = item.strip().partition(b";")
        name = coding.strip().lower().decode("latin-1")
        if name and name != "identity" and name in SUPPORTED and not _refused(params):
            kept.append(item.strip())
    return b", ".join(kept) if kept else b"identity"


def _refused(params: bytes) -> bool:
    """Whether media or coding parameters say ``q=0``."""
    for param in params.split(b";"):
        key, _, value = param.strip().partition(b"=")
        if key.strip().lower() == b"q":
            try:
                return float(value.strip() or b"1") == 0
            except ValueError:
                return False
    return False


def _text(value: bytes) -> str:
    return value.decode("latin-1")


def _node(address: str) -> str:
    """A ``Forwarded`` node: IPv6 addresses bracketed and quoted (RFC 7239 section 6)."""
    if ":" in address:
        return f'"[{address}]"'
    return _quoted(address)


def _quoted(value: str) -> str:
    if _TOKEN.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
