"""The forwarder: sends outbox hits upstream, in batches, until each is delivered or given up.

Per provider, ``forward_concurrency`` loops each claim a batch (an atomic lease in the store,
so replicas and workers never send the same hit at the same time), send it, and then delete
what was delivered, delete what the provider refused for good (a 4xx, counted), and release
the rest for a later try. Failures back off exponentially with jitter (a hit's n-th retry
waits about 2^n seconds, never more than ``retry_max_seconds``, at a random point of the
upper half of that interval so replicas do not retry in lockstep).

A circuit breaker per provider stops claiming after ``breaker_failures`` failed batches in a
row: the backlog then waits on disk, not in memory, and one probe batch every
``breaker_cooldown_seconds`` decides whether sending resumes. Every few seconds the outbox
is trimmed to its age and size limits, each dropped hit counted. On start the loops pick
up whatever an earlier process left, including hits whose lease expired because that
process died mid-send: those go out again with the same id (at least once, never silently
lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gateway.analytics.base import Outcome, Provider, Result
from gateway.analytics.outbox import OutboxStore
from gateway.analytics.upstream import HttpUpstream
from gateway.metrics import Metrics
from gateway.settings.analytics import AnalyticsSettings
from gateway.store import OutboxRow

logger = logging.getLogger("consent_gateway")
IDLE_POLL_SECONDS = 1.0  # other replicas' hits and due retries are found this often
TRIM_INTERVAL_SECONDS = 10.0
BATCH_LINGER_SECONDS = 0.05


def backoff(attempts: int, base: float, ceiling: float) -> float:
    """Seconds to wait before the next try after ``attempts`` failed ones: exponential, with
    jitter over the upper half of the interval."""
    delay = min(ceiling, base * 2.0 ** min(attempts - 1, 30))
    return delay / 2 + random.random() * delay / 2  # noqa: S311 - jitter, not a secret


@dataclass(slots=True)
class Breaker:
    """Consecutive failed batches of one provider; open means "do not send for a while".

    While open, one probe batch goes out every ``cooldown`` seconds; the first that
    succeeds closes it. A fixed interval (rather than a growing one) bounds how long a
    recovered provider waits for its backlog: one cooldown at most.
    """

    threshold: int
    cooldown: float
    failures: int = 0
    open_until: float = 0.0
    probing: bool = False

    def allows(self, now: float) -> bool:
        """Whether a batch may be sent now (while half-open, one probe at a time)."""
        if self.failures < self.threshold:
            return True
        if now < self.open_until or self.probing:
            return False
        self.probing = True
        return True

    def record(self, success: bool, now: float) -> None:
        self.probing = False
        if success:
            self.failures = 0
            return
        self.failures += 1
        if self.failures >= self.threshold:
            self.open_until = now + self.cooldown

    @property
    def is_open(self) -> bool:
        return self.failures >= self.threshold


class Doorbell:
    """Wakes one idle loop of a provider per ring: a commit of new hits needs one claimer,
    not all of them racing for the same rows. A ring with nobody waiting is kept for the
    next loop that would wait."""

    def __init__(self) -> None:
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._rung = False

    def ring(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._rung = True

    def ring_all(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
        self._rung = True

    async def wait(self, timeout: float) -> None:
        """Until rung or ``timeout`` seconds."""
        if self._rung:
            self._rung = False
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, timeout)
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)  # timed out: nobody rang it


class Forwarder:
    """Background tasks that drain the outbox to the providers."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        store: OutboxStore,
        settings: AnalyticsSettings,
        metrics: Metrics,
        *,
        idle_poll: float = IDLE_POLL_SECONDS,
    ) -> None:
        self.providers = dict(providers)
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.owner = secrets.token_hex(8)
        self.retry_base = settings.retry_base_seconds
        self.idle_poll = idle_poll
        self.breakers = {
            name: Breaker(settings.breaker_failures, settings.breaker_cooldown_seconds)
            for name in self.providers
        }
        self._wake = {name: Doorbell() for name in self.providers}
        self._lingering = dict.fromkeys(self.providers, False)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._stop = asyncio.Event()
        self._client: HttpUpstream | None = None
        batches = math.ceil(settings.forward_batch_size / 32)
        # A lease outlives the slowest batch: every request of it timing out in turn.
        self.lease_seconds = settings.forward_timeout_seconds * (batches + 2)

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        """Start the loops on the running event loop (once)."""
        if self._tasks or self._stopping or not self.providers:
            return
        self._client = HttpUpstream(self.settings.forward_timeout_seconds)
        loop = asyncio.get_running_loop()
        for name in self.providers:
            for _ in range(self.settings.forward_concurrency):
                self._tasks.append(loop.create_task(self._run(name)))
        self._tasks.append(loop.create_task(self._trim_loop()))

    def wake(self, providers: Iterable[str]) -> None:
        """New hits of these providers were committed."""
        for name in providers:
            doorbell = self._wake.get(name)
            if doorbell is not None and not self._lingering.get(name):
                doorbell.ring()  # a loop already lingering will take these hits too

    async def aclose(self, grace: float | None = None) -> None:
        """Stop claiming, let batches in flight finish (up to ``grace`` seconds), stop."""
        self._stopping = True
        self._stop.set()
        for doorbell in self._wake.values():
            doorbell.ring_all()
        if self._tasks:
            wait = self.settings.forward_timeout_seconds if grace is None else grace
            _, pending = await asyncio.wait(self._tasks, timeout=wait)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self, name: str) -> None:
        while not self._stopping:
            try:
                claimed = await self._one_batch(name)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("analytics forwarder for %s failed; retrying", name)
                claimed = 0
            if claimed >= self.settings.forward_batch_size:
                self._wake[name].ring()  # a backlog: another loop takes the next batch
            elif not self._stopping:
                await self._idle(name)

    async def _idle(self, name: str) -> None:
        breaker = self.breakers[name]
        pause = self.idle_poll
        if breaker.is_open:
            pause = max(0.05, min(pause, breaker.open_until - time.time()))
        await self._wake[name].wait(pause)
        if not self._stopping and not self._lingering[name]:
            # Let more commits land: one claim (and for batch APIs one request) for many
            # hits instead of one per commit. Commits meanwhile wake no other loop.
            self._lingering[name] = True
            try:
                await asyncio.sleep(BATCH_LINGER_SECONDS)
            finally:
                self._lingering[name] = False

    async def _one_batch(self, name: str) -> int:
        """Claim and send one batch; how many hits it had (0: nothing to send, or not now)."""
        breaker = self.breakers[name]
        now = time.time()
        if not breaker.allows(now):
            return 0
        limit = self.settings.forward_batch_size
        rows = await self.store.call(
            lambda store: store.outbox_claim(name, self.owner, limit, self.lease_seconds, now)
        )
        if not rows:
            breaker.probing = False
            return 0
        assert self._client is not None
        try:
            results = await self.providers[name].forward(self._client, rows)
        except Exception:
            logger.exception("could not build the %s requests; the hits wait", name)
            results = [Result(Outcome.RETRY, "error")] * len(rows)
        await self._settle(name, rows, results)
        return len(rows)

    async def _settle(self, name: str, rows: Sequence[OutboxRow], results: list[Result]) -> None:
        finished: list[int] = []
        retry: dict[float, list[int]] = {}
        delivered = rejected = 0
        now = time.time()
        ceiling = self.settings.retry_max_seconds
        for row, result in zip(rows, results, strict=True):
            if result.outcome is Outcome.DELIVERED:
                delivered += 1
                finished.append(row.row_id)
            elif result.outcome is Outcome.REJECTED:
                rejected += 1
                finished.append(row.row_id)
                self.metrics.analytics_dropped.labels(name, "rejected").inc()
                logger.warning("%s refused hit %s (%s); dropped", name, row.hit_id, result.reason)
            else:
                self.metrics.analytics_retries.labels(name, result.reason).inc()
                at = round(now + backoff(row.attempts, self.retry_base, ceiling), 3)
                retry.setdefault(at, []).append(row.row_id)
        if finished:
            await self.store.call(lambda store: store.outbox_done(finished))
        for at, ids in retry.items():
            await self.store.call(lambda store: store.outbox_retry(ids, at))  # noqa: B023
        if delivered:
            self.metrics.analytics_forwarded.labels(name).inc(delivered)
        breaker = self.breakers[name]
        was_open = breaker.is_open
        breaker.record(bool(delivered or rejected) or not retry, time.time())
        self.metrics.analytics_breaker_open.labels(name).set(int(breaker.is_open))
        if was_open and not breaker.is_open:
            # The provider is back: hits that backed off during the outage need not wait.
            now = time.time()
            await self.store.call(lambda store: store.outbox_due_now(name, now))
            self._wake[name].ring_all()

    async def _trim_loop(self) -> None:
        while not self._stopping:
            await self.trim()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), TRIM_INTERVAL_SECONDS)

    async def trim(self) -> None:
        """Enforce the outbox's age and size limits now, counting every dropped hit."""
        settings = self.settings
        try:
            result = await self.store.call(
                lambda store: store.outbox_trim(
                    settings.outbox_max_age_hours * 3600, settings.outbox_max_hits, time.time()
                )
            )
        except Exception:
            logger.exception("could not trim the analytics outbox")
            return
        for reason, counts in (("expired", result.expired), ("outbox_full", result.overflow)):
            for provider, dropped in counts.items():
                self.metrics.analytics_dropped.labels(provider, reason).inc(dropped)
                logger.warning("dropped %d %s hits from the outbox: %s", dropped, provider, reason)
        self.metrics.analytics_outbox.set(result.remaining)
