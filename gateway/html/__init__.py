"""HTML pages: the streaming rewriter (``rewriter``), tracker neutralisation (``trackers``,
``gating``), the banner's assets and tags (``banner``), the page's Content-Security-Policy
(``csp``), body content codings (``content_coding``) and the ASGI side that ties them to a
response (``inject``)."""
