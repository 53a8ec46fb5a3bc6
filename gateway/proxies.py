"""Which client address to believe: the direct peer, or, when the peer is a proxy the site
trusts (setting ``trusted_proxies``), the first untrusted hop of ``X-Forwarded-For`` read from
the right, as uvicorn's proxy_headers.py reads it. One rule for the GeoIP look-up and for
analytics collection, so both see the same visitor. A hop may carry a port or brackets, as
some proxies write it (Azure Application Gateway: ``198.51.100.77:4711``; IPv6
``[2001:db8::1]:4711``): the address is what counts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDED_FOR = b"x-forwarded-for"
# An IPv6 address with brackets, a zone (an interface name) and a port takes at most 69
# characters: a longer hop is no address, and is cut to this, so that the memos keyed by
# client addresses (GeoIP, IP truncation) never keep it whole.
MAX_ADDRESS_LENGTH = 80


class TrustedProxies:
    """The proxies whose ``X-Forwarded-For`` the gateway believes."""

    def __init__(self, networks: Iterable[str]) -> None:
        self._networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(network, strict=False) for network in networks
        )

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
        for hop in reversed(hops):
            if hop not in self:
                return hop
        return hops[0] if hops else peer

    def __bool__(self) -> bool:
        return bool(self._networks)


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
