"""Which client address to believe: the direct peer, or, when the peer is a proxy the site
trusts (setting ``trusted_proxies``), the first untrusted hop of ``X-Forwarded-For`` read from
the right, as uvicorn's proxy_headers.py reads it. One rule for the GeoIP look-up and for
analytics collection, so both see the same visitor.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDED_FOR = b"x-forwarded-for"


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
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
        hops = [hop for hop in hops if hop]
        for hop in reversed(hops):
            if hop not in self:
                return hop
        return hops[0] if hops else peer

    def __bool__(self) -> bool:
        return bool(self._networks)
