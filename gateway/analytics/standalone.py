"""``consent-gateway forward``: the forwarder as a process of its own.

With ``[analytics] forwarder = "separate"`` the gateway workers only collect (commit hits to
the outbox and answer), and this process drains the outbox: on another core, in another
container, or several of them (claims are leases, so they never send one hit at the same
time). It finds new hits by polling the store, since no commit in another process can wake
it; a full batch is followed by the next one at once. With ``--metrics-port`` it serves its
own Prometheus metrics (forwarded, retried and dropped hits, the outbox size, the breakers),
which in this mode no gateway worker has.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from gateway.analytics.collect import build_providers
from gateway.analytics.forwarder import Forwarder
from gateway.analytics.outbox import OutboxStore
from gateway.analytics.redact import RedactionRules, Redactor
from gateway.consent.agents import AgentClassifier
from gateway.metrics import Metrics, MetricsListener
from gateway.settings import Settings
from gateway.store.handle import StoreHandle

logger = logging.getLogger("consent_gateway")
POLL_SECONDS = 0.2


async def forward(
    settings: Settings,
    stop: asyncio.Event,
    *,
    metrics_host: str = "127.0.0.1",
    metrics_port: int | None = None,
) -> None:
    """Forward until ``stop`` is set, then finish the batches in flight."""
    analytics = settings.analytics
    redactor = Redactor(
        RedactionRules.load(),
        ipv4_prefix=analytics.ipv4_prefix,
        ipv6_prefix=analytics.ipv6_prefix,
        agents=AgentClassifier.load(),
        reduce_user_agent=analytics.reduce_user_agent,
    )
    handle = StoreHandle(settings.database_url)
    store = OutboxStore(handle)
    metrics = Metrics()
    forwarder = Forwarder(
        build_providers(analytics, redactor), store, analytics, metrics, idle_poll=POLL_SECONDS
    )
    listener = None
    if metrics_port is not None:
        listener = MetricsListener(metrics, metrics_host, metrics_port)
        await listener.start()
    forwarder.start()
    try:
        await stop.wait()
    finally:
        await forwarder.aclose()
        store.close()
        handle.close()
        if listener is not None:
            await listener.aclose()


def run(
    settings: Settings, *, metrics_host: str = "127.0.0.1", metrics_port: int | None = None
) -> int:
    """Run until SIGTERM or SIGINT; the exit status."""
    if not settings.analytics.providers():
        raise ValueError("no [analytics.<provider>] table is configured: nothing to forward")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        logger.info("forwarding %s", ", ".join(settings.analytics.providers()))
        await forward(settings, stop, metrics_host=metrics_host, metrics_port=metrics_port)

    asyncio.run(main())
    return 0
