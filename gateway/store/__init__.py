"""Where proof of consent, unknown cookie counts, the analytics outbox and daily salts are
kept: SQLite by default, PostgreSQL by URL. Stores are synchronous and thread-safe; the async
request path calls them from worker threads (``gateway.store.handle``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from gateway.store.base import (
    ConsentRecord,
    DailyCount,
    DecisionCount,
    OutboxHit,
    OutboxRow,
    Store,
    TrimResult,
    UnknownCookie,
    VerifyResult,
)


def open_store(url: str) -> Store:
    """A store for ``sqlite:///path``, ``sqlite:///:memory:`` or ``postgresql://...``."""
    path = sqlite_path(url)
    if path is not None:
        from gateway.store.sqlite import SQLiteStore

        return SQLiteStore(path)
    check_url(url)
    from gateway.store.postgres import PostgresStore

    return PostgresStore(url)


def check_url(url: str) -> None:
    """Raises ``ValueError`` unless this installation can open ``url``, without opening it:
    a gateway refuses to start rather than answer every decision with 503."""
    if sqlite_path(url) is not None:
        return
    scheme, sep, _ = url.partition("://")
    if not (sep and scheme in ("postgresql", "postgres")):
        raise ValueError(
            f"unsupported database_url {url!r}: use sqlite:///path/to/file.db or "
            "postgresql://user@host:5432/database"
        )
    from gateway.store.postgres import require_psycopg

    require_psycopg()


def open_existing_store(url: str) -> Store:
    """``open_store`` for commands that read what a gateway recorded: a SQLite file that is
    not there is an error (a wrong working directory or settings file), not a new, empty
    database; a store that cannot be opened is a ``ValueError`` naming it."""
    path = sqlite_path(url)
    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"the database {describe_url(url)} does not exist")
    try:
        return open_store(url)
    except ValueError:
        raise
    except Exception as error:
        raise ValueError(f"cannot open the database {describe_url(url)}: {error}") from None


def describe_url(url: str) -> str:
    """``url`` as a message may show it: a SQLite file by its absolute path, a password
    masked."""
    path = sqlite_path(url)
    if path is not None:
        return path if path == ":memory:" else str(Path(path).absolute())
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///`` URL (relative to the working directory unless it starts
    with ``sqlite:////``); None for any other URL."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme == "sqlite":
        return rest[1:] if rest.startswith("/") else rest
    return None


__all__ = [
    "ConsentRecord",
    "DailyCount",
    "DecisionCount",
    "OutboxHit",
    "OutboxRow",
    "Store",
    "TrimResult",
    "UnknownCookie",
    "VerifyResult",
    "check_url",
    "describe_url",
    "open_existing_store",
    "open_store",
    "sqlite_path",
]
