"""``Memo``: remembered answers, bounded by entries and by the bytes of their keys, counted.

The gateway remembers work per header value (a Cookie header, a User-Agent, a Set-Cookie
line, a URL), because the same values come again and again. A bound on entries alone let
keys of any size in: 1,500 requests with a unique 1 MB consent cookie each took the demo
from 48 MB to 3 GB. A ``Memo`` also bounds the bytes of its keys (as its caller measures
them), and never files a key larger than ``max_key``: an answer for such a key is worked out
again each time, which costs time, never memory. When a bound would be passed, the memo is
cleared (the answers are worked out again on demand): an eviction.

Reads go to ``table``, a plain dict: on the request path, a dict subclass's ``get`` costs
about 170 instructions more than a dict's (no specialised call), a method call more still.
The table is cleared in place, so a reference to it stays valid.

Counting stays off the fast path where it can: every answer worked out is filed with
``put`` (the slow path), which counts the misses and the evictions; a caller counts a hit
with ``memo.hits += 1`` where it found one (two slot accesses). The gateway exports the
counts (``consent_gateway_cache_*``) when its metrics are read, never on a request.
"""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(Generic[K, V]):
    """Answers by key, at most ``max_entries`` of them, keys of at most ``max_bytes`` in all
    and ``max_key`` each; look them up in ``table`` (and count ``hits``), file them with
    ``put``. ``name`` labels its metrics."""

    __slots__ = (
        "evictions",
        "hits",
        "max_bytes",
        "max_entries",
        "max_key",
        "misses",
        "name",
        "size",
        "table",
    )

    def __init__(self, name: str, max_entries: int, max_bytes: int, max_key: int) -> None:
        self.name = name
        self.table: dict[K, V] = {}
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_key = max_key
        self.size = 0  # bytes of the keys filed since the last clear
        self.hits = 0  # answers found in ``table``, counted by the callers
        self.misses = 0  # answers worked out (``put`` calls)
        self.evictions = 0  # clears because a bound would be passed

    def put(self, key: K, value: V, size: int) -> V:
        """File ``value`` under ``key``, whose bytes are ``size``; returns ``value``. A key
        filed again counts again, so the memo is cleared sooner, never later."""
        self.misses += 1
        if size > self.max_key or self.max_entries <= 0:
            return value
        table = self.table
        if len(table) >= self.max_entries or self.size + size > self.max_bytes:
            table.clear()
            self.size = 0
            self.evictions += 1
        table[key] = value
        self.size += size
        return value

    def clear(self) -> None:
        """Forget every answer (what they depend on changed); the counts stay."""
        self.table.clear()
        self.size = 0

    def disable(self) -> None:
        """Forget every answer and file none from now on (benchmarks: the gain of a memo)."""
        self.clear()
        self.max_entries = 0
