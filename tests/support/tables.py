"""Every value a store keeps, table by table, on SQLite or PostgreSQL: what erasure tests
scan for a consent id."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import psycopg

from gateway.store import sqlite_path


def every_value(database_url: str) -> Iterator[tuple[str, str, Any]]:
    """Every value of every column of every table the store made: (table, column, value)."""
    path = sqlite_path(database_url)
    if path is not None:
        with sqlite3.connect(path) as db:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for table in tables:
                columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
                for row in db.execute(f"SELECT * FROM {table}"):
                    yield from ((table, c, v) for c, v in zip(columns, row, strict=True))
        return
    with psycopg.connect(database_url) as db:
        tables = [
            r[0]
            for r in db.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            )
        ]
        for table in tables:
            cursor = db.execute(f"SELECT * FROM {table}")
            columns = [d.name for d in cursor.description or ()]
            for row in cursor.fetchall():
                yield from ((table, c, v) for c, v in zip(columns, row, strict=True))


def traces(database_url: str, consent_id: str) -> list[tuple[str, str]]:
    found = []
    for table, column, value in every_value(database_url):
        text = value.decode("latin-1") if isinstance(value, bytes | memoryview) else str(value)
        if consent_id in text:
            found.append((table, column))
    return found
