"""``consent-gateway forward``: the forwarder as a process of its own.

With ``[analytics] forwarder = "separate"`` the gateway workers only collect (commit hits to
the outbox and answer), and this process drains the outbox: on another core, in another
container, or several of them (claims are leases, so they never send one hit at the same
time). It finds new hits by polling the store, since no commit in another process can wake
it; a full batch is followed by the next one at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from gateway.agents import AgentClassifier
from gateway.analytics.collect import build_providers
from gateway.analytics.forwarder import Forwarder
from gateway.analytics.outbox import OutboxStore
from gateway.analytics.redact import RedactionRules, Redactor
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.store_handle import StoreHandle

logger = logging.getLogger("consent_gateway")
POLL_SECONDS = 0.2


async def forward(settings: Settings, stop: asyncio.Event) -> None:
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
    forwarder = Forwarder(
        build_providers(analytics, redactor), store, analytics, Metrics(), idle_poll=POLL_SECONDS
    )
    forwarder.start()
    try:
        await stop.wait()
    finally:
        await forwarder.aclose()
        store.close()
        handle.close()


def run(settings: Settings) -> int:
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
        await forward(settings, stop)

    asyncio.run(main())
    return 0
