"""The edge reverse proxy: ``consent-gateway serve --upstream URL`` puts the whole gateway
in front of a site written in anything (PHP, Node.js, Ruby, Go, static files).

This package owns forwarding HTTP to the upstream and nothing else: ``ProxyApp`` is one more
ASGI app that ``ConsentMiddleware`` wraps, so consent, cookie enforcement and the page
rewriting work on the upstream's responses exactly as on a Python app's. It owns the
upstream connections (``connection``: HTTP/1.1 on asyncio with llhttp's strict parser;
``upstreams``: round robin and the keep-alive pool) and the headers crossing the proxy
(``headers``: hop-by-hop removal, ``X-Forwarded-*`` and ``Forwarded`` from the identity the
middleware resolved, ``Accept-Encoding`` narrowed to codings the gateway decodes),
WebSockets relayed to the upstream (``websocket``, with the ``websockets`` library) and the
access log of ``serve`` (``access_log``).
"""

from gateway.proxy.app import ProxyApp, UpstreamBroken
from gateway.proxy.upstreams import Upstreams

__all__ = ["ProxyApp", "UpstreamBroken", "Upstreams"]
