"""Lossless forwarding under faults, on SQLite and on PostgreSQL: a provider that is down for
a while, and a gateway process killed with SIGKILL in the middle of a stream of hits.

Every hit carries a marker (its Plausible ``props.n``); a hit counts as delivered when the
stand-in recorded it. "Exactly once, or at least once with the same id": each accepted
marker arrives, and every copy of one marker carries the same ``Idempotency-Key``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from gateway import ConsentMiddleware
from gateway.store import Store
from tests.support.apps import SECRET
from tests.support.providers import BROWSER_UA, FAST
from tests.support.servers import free_port, serving
from tests.support.standin import Received, StandIn

pytestmark = pytest.mark.slow  # real servers and gateway processes, killed and restarted

Gateway = Callable[..., ConsentMiddleware]
ROOT = Path(__file__).resolve().parents[2]
HEADERS = {"user-agent": BROWSER_UA, "content-type": "text/plain"}


def event(marker: int) -> bytes:
    return json.dumps(
        {
            "n": "pageview",
            "u": f"https://shop.example/p/{marker}",
            "d": "shop.example",
            "p": {"n": marker},
        }
    ).encode()


def deliveries(received: list[Received]) -> dict[int, set[str]]:
    """marker -> the ids it arrived with."""
    found: dict[int, set[str]] = {}
    for hit in received:
        found.setdefault(hit.json()["p"]["n"], set()).add(hit.headers["idempotency-key"])
    return found


def assert_lossless(accepted: set[int], stand_in: StandIn) -> None:
    stand_in.wait_for(lambda received: accepted <= set(deliveries(received)), timeout=60)
    found = deliveries(list(stand_in.received))
    assert accepted <= set(found)
    assert all(len(ids) == 1 for ids in found.values()), "a hit came back with a new id"


@pytest.mark.parametrize("outage", ["connection_refused", "status_503"])
def test_a_provider_outage_loses_nothing(
    make_collecting_gateway: Gateway, stand_in: StandIn, any_store: Store, outage: str
) -> None:
    gateway = make_collecting_gateway(store=any_store)
    if outage == "connection_refused":
        stand_in.stop()
    else:
        stand_in.status = 503
    with serving(gateway) as url, httpx.Client(base_url=url, headers=HEADERS) as client:
        for marker in range(40):
            response = client.post("/_consent/collect/plausible/api/event", content=event(marker))
            assert response.status_code == 202
        deadline = time.monotonic() + 20
        while (
            "consent_gateway_analytics_retries_total{" not in client.get("/_consent/metrics").text
        ):
            assert time.monotonic() < deadline, "the forwarder never tried"
            time.sleep(0.05)
        assert any_store.outbox_count() == 40  # waiting on disk
        if outage == "connection_refused":
            stand_in.start()
        else:
            stand_in.status = 200
        assert_lossless(set(range(40)), stand_in)
        deadline = time.monotonic() + 20
        while any_store.outbox_count():
            assert time.monotonic() < deadline, "delivered hits stayed in the outbox"
            time.sleep(0.05)
        # The forwarder counts a batch just after deleting it from the outbox: wait for that.
        forwarded = 'consent_gateway_analytics_forwarded_total{provider="plausible"} 40.0'
        while forwarded not in client.get("/_consent/metrics").text:
            assert time.monotonic() < deadline, "the delivered hits were not counted"
            time.sleep(0.05)


@contextmanager
def gateway_process(
    port: int, database_url: str, upstream: str, analytics: dict[str, object] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    if analytics is None:
        analytics = {**FAST, "forward_timeout_seconds": 1, "forward_batch_size": 10}
        analytics["plausible"] = {"upstream": upstream}
    env = {
        **os.environ,
        "CONSENT_GATEWAY_SECRET": SECRET,
        "CONSENT_GATEWAY_DATABASE_URL": database_url,
        "CONSENT_GATEWAY_ANALYTICS": json.dumps(analytics),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.support.gateway_app:app", "--port", str(port),
         "--no-proxy-headers", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/_consent/state", timeout=1)
                break
            except httpx.HTTPError:
                assert process.poll() is None, "the gateway process exited"
                assert time.monotonic() < deadline, "the gateway process did not start"
                time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(10)


def test_a_gateway_killed_mid_stream_loses_no_accepted_hit(
    stand_in: StandIn, database_url: str
) -> None:
    stand_in.delay = 0.3  # batches are in flight when the process dies
    port = free_port()
    accepted: set[int] = set()
    killed = threading.Event()

    def stream() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=HEADERS) as client:
            for marker in range(2000):
                if killed.is_set():
                    return
                try:
                    response = client.post(
                        "/_consent/collect/plausible/api/event", content=event(marker)
                    )
                except httpx.HTTPError:
                    continue
                if response.status_code == 202:
                    accepted.add(marker)

    with gateway_process(port, database_url, stand_in.url) as process:
        sender = threading.Thread(target=stream)
        sender.start()
        deadline = time.monotonic() + 30
        while len(accepted) < 150 or not stand_in.received:
            assert time.monotonic() < deadline, "the stream did not get going"
            time.sleep(0.01)
        # From now on the provider takes nothing (on a busy machine the forwarder could
        # otherwise catch up with a slow stream just before the kill): the hits accepted
        # since are in the outbox or in flight when the process dies.
        stand_in.status = 503
        while not set(accepted) - set(deliveries(list(stand_in.received))):
            assert time.monotonic() < deadline, "no hit was accepted after the provider failed"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        killed.set()
        sender.join(30)
    assert accepted - set(deliveries(list(stand_in.received)))
    stand_in.status = 200
    with gateway_process(port, database_url, stand_in.url):
        assert_lossless(set(accepted), stand_in)


def test_a_separate_forwarder_process_drains_what_the_workers_collected(
    stand_in: StandIn, database_url: str
) -> None:
    analytics: dict[str, object] = {
        **FAST,
        "forwarder": "separate",
        "plausible": {"upstream": stand_in.url},
    }
    port = free_port()
    env = {
        **os.environ,
        "CONSENT_GATEWAY_SECRET": SECRET,
        "CONSENT_GATEWAY_DATABASE_URL": database_url,
        "CONSENT_GATEWAY_ANALYTICS": json.dumps(analytics),
    }
    with gateway_process(port, database_url, stand_in.url, analytics) as _:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=HEADERS) as client:
            for marker in range(20):
                response = client.post(
                    "/_consent/collect/plausible/api/event", content=event(marker)
                )
                assert response.status_code == 202
        time.sleep(0.5)
        assert stand_in.received == []  # the workers only collect
        metrics_port = free_port()
        forwarder = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "forward", "--metrics-port", str(metrics_port)],
            cwd=ROOT,
            env=env,
        )
        try:
            assert_lossless(set(range(20)), stand_in)
            # The forwarder's own metrics: in this mode no worker counts what it sends. The
            # stand-in records a hit before it answers, so the count may follow a moment later.
            forwarded = 'consent_gateway_analytics_forwarded_total{provider="plausible"} 20.0'
            deadline = time.monotonic() + 10
            while True:
                exposition = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
                if forwarded in exposition.splitlines() or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert forwarded in exposition.splitlines()
        finally:
            forwarder.send_signal(signal.SIGTERM)
            assert forwarder.wait(20) == 0
