"""First-party analytics collection: receive hits, redact them by consent, forward them.

``collect.Collector`` answers ``/_consent/collect/<provider>/...``; one module per provider
(``ga4``, ``matomo``, ``plausible``, ``umami``, ``posthog``, ``sentry``) parses its wire
format and redacts with ``redact``; hits are committed to the store's outbox by ``outbox``
before the client gets its 2xx, and ``forwarder`` sends them upstream.
"""
