"""Forwarder policy: refused hits are dropped and counted, limits drop the oldest and count
them, the breaker stops sending while a provider is down, backoff grows with jitter."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from gateway import ConsentMiddleware
from gateway.analytics.forwarder import Breaker, backoff
from gateway.store import OutboxHit
from tests.support.providers import BROWSER_UA
from tests.support.servers import serving
from tests.support.standin import StandIn

Gateway = Callable[..., ConsentMiddleware]
HEADERS = {"user-agent": BROWSER_UA}


def plausible(marker: int) -> bytes:
    return json.dumps({"n": "pv", "u": f"https://a.example/{marker}", "d": "a.example"}).encode()


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.slow
def test_hits_the_provider_refuses_are_dropped_and_counted(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    stand_in.status = 400
    gateway = make_collecting_gateway()
    with serving(gateway) as url, httpx.Client(base_url=url, headers=HEADERS) as client:
        for marker in range(3):
            client.post("/_consent/collect/plausible/api/event", content=plausible(marker))
        name = 'consent_gateway_analytics_dropped_total{provider="plausible",reason="rejected"}'
        deadline = time.monotonic() + 20
        while metric(client.get("/_consent/metrics").text, name) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert gateway.gateway.store.get().outbox_count() == 0
        retries = "consent_gateway_analytics_retries_total"
        assert metric(client.get("/_consent/metrics").text, retries) == 0


def test_the_size_limit_drops_the_oldest_hits_with_a_metric(
    make_collecting_gateway: Gateway, stand_in: StandIn, tmp_path: Path
) -> None:
    stand_in.stop()
    gateway = make_collecting_gateway(analytics={"outbox_max_hits": 100})
    store = gateway.gateway.store.get()
    now = time.time()
    store.outbox_add(
        [OutboxHit(f"old-{n}", "plausible", b"{}", now - 1000 + n) for n in range(150)]
    )
    collector = gateway.gateway.collector
    assert collector is not None

    async def trim() -> None:
        await collector.forwarder.trim()
        collector.store.close()

    asyncio.run(trim())
    assert store.outbox_count() == 100
    exposition = gateway.gateway.metrics.exposition().decode()
    name = 'consent_gateway_analytics_dropped_total{provider="plausible",reason="outbox_full"}'
    assert metric(exposition, name) == 50
    assert metric(exposition, "consent_gateway_analytics_outbox_hits") == 100


def test_the_age_limit_drops_expired_hits_with_a_metric(
    make_collecting_gateway: Gateway, stand_in: StandIn
) -> None:
    gateway = make_collecting_gateway(analytics={"outbox_max_age_hours": 1})
    store = gateway.gateway.store.get()
    now = time.time()
    store.outbox_add([OutboxHit("stale", "umami", b"{}", now - 3601)])
    store.outbox_add([OutboxHit("fresh", "umami", b"{}", now - 60)])
    collector = gateway.gateway.collector
    assert collector is not None

    async def trim() -> None:
        await collector.forwarder.trim()
        collector.store.close()

    asyncio.run(trim())
    assert store.outbox_count() == 1
    name = 'consent_gateway_analytics_dropped_total{provider="umami",reason="expired"}'
    assert metric(gateway.gateway.metrics.exposition().decode(), name) == 1


def test_the_breaker_opens_after_failures_and_lets_one_probe_through() -> None:
    breaker = Breaker(threshold=3, cooldown=10)
    for _ in range(3):
        assert breaker.allows(0)
        breaker.record(False, 0)
    assert breaker.is_open
    assert not breaker.allows(5)
    assert breaker.allows(11)  # the probe
    assert not breaker.allows(11)  # only one at a time
    breaker.record(False, 11)
    assert not breaker.allows(20)
    assert breaker.allows(21)  # the next probe, one cooldown later
    breaker.record(True, 21)
    assert not breaker.is_open and breaker.allows(21)


def test_backoff_grows_exponentially_with_jitter_up_to_the_ceiling() -> None:
    for attempts, low, high in ((1, 0.5, 1), (2, 1, 2), (5, 8, 16), (30, 150, 300)):
        waits = {backoff(attempts, 1, 300) for _ in range(50)}
        assert all(low <= wait <= high for wait in waits)
        assert len(waits) > 1  # jittered


@pytest.mark.slow
def test_a_doorbell_wakes_one_waiter_and_forgets_the_ones_that_gave_up() -> None:
    from gateway.analytics.forwarder import Doorbell

    async def scenario() -> tuple[int, int, int]:
        bell = Doorbell()
        woken = 0

        async def waiter() -> None:
            nonlocal woken
            await bell.wait(0.5)
            woken += 1

        tasks = [asyncio.create_task(waiter()) for _ in range(3)]
        await asyncio.sleep(0.01)
        bell.ring()
        await asyncio.sleep(0.01)
        first = woken
        await asyncio.gather(*tasks)
        for _ in range(50):
            await bell.wait(0.001)  # nobody rings: each wait must clean up after itself
        return first, woken, len(bell._waiters)

    assert asyncio.run(scenario()) == (1, 3, 0)
