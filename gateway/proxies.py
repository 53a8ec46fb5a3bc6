"""Who the visitor is when proxies stand in front: the client address, the scheme and the host
of the request as the visitor sent it, resolved once at the edge of each request
(``TrustedProxies.resolve``, called by the middleware) and kept in the ASGI scope, so that
every part of the gateway (Secure cookies, the API's same-origin check, analytics, the GeoIP
look-up, the declaration's visitor networks, the page injection) sees the same visitor.

As uvicorn's ProxyHeadersMiddleware and werkzeug's ProxyFix do it: only when the connection's
peer is a proxy the site trusts (setting ``trusted_proxies``) are its forwarding headers
believed, and only the kind it writes (setting ``proxy_headers``): ``X-Forwarded-For``,
``-Proto`` and ``-Host``, or RFC 7239's ``Forwarded``. The client is the first untrusted hop
read from the right (each proxy appends the peer it saw); the scheme and host are what the
nearest trusted proxy says (the last ``X-Forwarded-Proto``/``-Host`` value), or, with
``Forwarded``, what the element of the client hop says. A hop may carry a port or brackets, as
some proxies write it (Azure Application Gateway: ``198.51.100.77:4711``; IPv6
``[2001:db8::1]:4711``): the address is what counts.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from starlette.types import Scope

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ProxyHeaders = Literal["x-forwarded", "forwarded"]
FORWARDED = b"forwarded"
FORWARDED_FOR = b"x-forwarded-for"
FORWARDED_PROTO = b"x-forwarded-proto"
FORWARDED_HOST = b"x-forwarded-host"
HOST = b"host"
# What a scheme becomes in an HTTP scope and in a WebSocket scope.
_SCHEMES = {
    "http": ("http", "ws"),
    "https": ("https", "wss"),
    "ws": ("http", "ws"),
    "wss": ("https", "wss"),
}
# A host as a Host header names it: a name or an address, and maybe a port.
_HOST = re.compile(r"(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
# One ``name=value`` of a ``Forwarded`` element (RFC 7239 section 4), and what follows it.
_PAIR = re.compile(r'([!#$%&\'*+.^_`|~0-9A-Za-z-]+)=("(?:[^"\\]|\\.)*"|[^";,\s]*)[ \t]*([;,]|$)')
# An IPv6 address with brackets, a zone (an interface name) and a port takes at most 69
# characters: a longer hop is no address, and is cut to this, so that the memos keyed by
# client addresses (GeoIP, IP truncation) never keep it whole.
MAX_ADDRESS_LENGTH = 80
MAX_HOST_LENGTH = 255


@dataclass(frozen=True, slots=True)
class ProxyPeer:
    """The request as the server saw it from a trusted proxy, before the gateway believed the
    proxy's headers: ``scope["state"]["proxy"]`` (werkzeug's ``werkzeug.proxy_fix.orig``)."""

    client: tuple[str, int]
    scheme: str
    host: str | None


class TrustedProxies:
    """The proxies whose forwarding headers the gateway believes."""

    def __init__(self, networks: Iterable[str], headers: ProxyHeaders = "x-forwarded") -> None:
        self._networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(network, strict=False) for network in networks
        )
        self.headers = headers

    def __contains__(self, host: str) -> bool:
        if not self._networks:
            return False
        try:
            address = ipaddress.ip_address(host.strip())
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def client(self, peer: str | None, forwarded_for: Sequence[str]) -> str | None:
        """The visitor's address: ``peer``, or, when ``peer`` is a trusted proxy, the first
        untrusted hop of ``X-Forwarded-For`` from the right (the leftmost when all are)."""
        if peer is None or peer not in self or not forwarded_for:
            return peer
        hops = [address(hop) for value in forwarded_for for hop in value.split(",")]
        hops = [hop for hop in hops if hop]
        return hops[self._visitor_hop(hops)] if hops else peer

    def _visitor_hop(self, hops: Sequence[str]) -> int:
        """The index of the first untrusted hop from the right (0 when all are trusted)."""
        for index in range(len(hops) - 1, -1, -1):
            if hops[index] not in self:
                return index
        return 0

    def resolve(self, scope: Scope) -> Scope:
        """``scope`` as the visitor sent the request, when its peer is a trusted proxy: the
        client, the scheme and the Host header from the proxy's headers, what the server saw
        in ``scope["state"]["proxy"]`` (a ``ProxyPeer``). Otherwise ``scope`` itself: a client
        can never set them."""
        peer = scope.get("client")
        if not peer or str(peer[0]) not in self:
            return scope
        headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        host = next((bytes(v).decode("latin-1") for n, v in headers if n == HOST), None)
        original = ProxyPeer((str(peer[0]), int(peer[1])), scope.get("scheme", "http"), host)
        if self.headers == "forwarded":
            client, scheme, new_host = self._from_forwarded(_values(headers, FORWARDED))
        else:
            forwarded_for = _values(headers, FORWARDED_FOR)
            visitor = self.client(original.client[0], forwarded_for)
            client = (visitor, 0) if visitor and visitor != original.client[0] else None
            scheme = _last(_values(headers, FORWARDED_PROTO))
            new_host = _last(_values(headers, FORWARDED_HOST))
        resolved = {**scope}
        state = scope.get("state")
        if state is None:
            state = resolved["state"] = {}
        state["proxy"] = original
        if client is not None:
            resolved["client"] = client
        schemes = _SCHEMES.get((scheme or "").lower())
        if schemes is not None:
            resolved["scheme"] = schemes[scope["type"] == "websocket"]
        if new_host and len(new_host) <= MAX_HOST_LENGTH and _HOST.fullmatch(new_host):
            value = new_host.encode("latin-1")
            replaced = [(n, value if n == HOST else v) for n, v in headers]
            resolved["headers"] = replaced if host is not None else [*headers, (HOST, value)]
        return resolved

    def _from_forwarded(
        self, values: Sequence[str]
    ) -> tuple[tuple[str, int] | None, str | None, str | None]:
        """The client (address, port), scheme and host of the ``Forwarded`` element of the
        first untrusted hop from the right; nothing from a header that does not parse."""
        elements = [element for value in values for element in forwarded_elements(value)]
        if not elements:
            return None, None, None
        hops = [address(element.get("for", "")) for element in elements]
        index = self._visitor_hop(hops)
        element = elements[index]
        client = (hops[index], _port(element["for"])) if hops[index] else None
        return client, element.get("proto"), element.get("host")

    def __bool__(self) -> bool:
        return bool(self._networks)


def client_address(scope: Scope) -> str | None:
    """The visitor's address: the scope's client, which the middleware resolved
    (``TrustedProxies.resolve``) before anything else read it."""
    client = scope.get("client")
    return str(client[0]) if client else None


def forwarded_elements(value: str) -> list[dict[str, str]]:
    """The elements of one ``Forwarded`` header, each its parameters by lower-case name with
    quoted values unquoted: ``for="[2001:db8::1]:4711";proto=https, for=192.0.2.1`` ->
    ``[{"for": "[2001:db8::1]:4711", "proto": "https"}, {"for": "192.0.2.1"}]``. None at all
    when the header does not parse or repeats a parameter in one element (RFC 7239 4)."""
    elements: list[dict[str, str]] = [{}]
    position = 0
    while position < len(value):
        if value[position] in " \t,;":  # empty elements and pairs are allowed
            if value[position] == "," and elements[-1]:
                elements.append({})
            position += 1
            continue
        match = _PAIR.match(value, position)
        if match is None:
            return []
        name, raw, separator = match.groups()
        name = name.lower()
        if name in elements[-1]:
            return []
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elements[-1][name] = raw
        position = match.end()
        if separator == ",":
            elements.append({})
    return [element for element in elements if element]


def _port(node: str) -> int:
    """The port of a ``Forwarded`` node: ``[2001:db8::1]:4711``, ``192.0.2.1:4711``; else 0
    (none, or an obfuscated one: ``_hidden``)."""
    if node.startswith("["):
        port = node.partition("]")[2].removeprefix(":")
    elif node.count(":") == 1:
        port = node.partition(":")[2]
    else:
        return 0
    return int(port) if port.isdigit() and int(port) <= 65535 else 0


def _values(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> list[str]:
    return [bytes(value).decode("latin-1") for key, value in headers if key == name]


def _last(values: Sequence[str]) -> str | None:
    """The last item of a comma-separated header: what the nearest proxy wrote."""
    items = [item.strip() for value in values for item in value.split(",")]
    items = [item for item in items if item]
    return items[-1] if items else None


def address(hop: str) -> str:
    """The address of one ``X-Forwarded-For`` hop, without port and brackets:
    ``198.51.100.77:4711`` -> ``198.51.100.77``, ``[2001:db8::1]:4711`` -> ``2001:db8::1``.
    A bare IPv6 address (several colons) is left whole; so is anything else, which is no
    address and forwards none."""
    hop = hop.strip()[:MAX_ADDRESS_LENGTH]
    if hop.startswith("["):
        end = hop.find("]")
        return hop[1:end] if end > 0 else hop
    if hop.count(":") == 1:
        return hop.partition(":")[0]
    return hop


def truncate_ip(address: str, ipv4_prefix: int = 24, ipv6_prefix: int = 48) -> str | None:
    """The network part of ``address`` (``203.0.113.7`` -> ``203.0.113.0``), or None when it
    is not an IP address. An IPv4-mapped IPv6 address is treated as the IPv4 one."""
    try:
        parsed = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            parsed = parsed.ipv4_mapped
        else:
            unscoped = ipaddress.IPv6Address(parsed.packed)  # without a %zone
            network = ipaddress.IPv6Network((unscoped, ipv6_prefix), strict=False)
            return str(network.network_address)
    return str(ipaddress.IPv4Network((parsed, ipv4_prefix), strict=False).network_address)
