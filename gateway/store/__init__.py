"""Where proof of consent, unknown cookie counts, the analytics outbox and daily salts are
kept: SQLite by default, PostgreSQL by URL. Stores are synchronous and thread-safe; the async
request path calls them from worker threads (``gateway.store_handle``)."""

from __future__ import annotations

from gateway.store.base import (
    ConsentRecord,
    OutboxHit,
    OutboxRow,
    Store,
    TrimResult,
    UnknownCookie,
)


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///path`` URL (``:memory:`` for none); None for other URLs."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme != "sqlite":
        return None
    return rest[1:] if rest.startswith("/") else rest


def open_store(url: str) -> Store:
    """A store for ``sqlite:///path``, ``sqlite:///:memory:`` or ``postgresql://...``."""
    path = sqlite_path(url)
    if path is not None:
        from gateway.store.sqlite import SQLiteStore

        return SQLiteStore(path)
    scheme, sep, _ = url.partition("://")
    if sep and scheme in ("postgresql", "postgres"):
        from gateway.store.postgres import PostgresStore

        return PostgresStore(url)
    raise ValueError(
        f"unsupported database_url {url!r}: use sqlite:///path/to/file.db or "
        "postgresql://user@host:5432/database"
    )


__all__ = [
    "ConsentRecord",
    "OutboxHit",
    "OutboxRow",
    "Store",
    "TrimResult",
    "UnknownCookie",
    "open_store",
    "sqlite_path",
]
