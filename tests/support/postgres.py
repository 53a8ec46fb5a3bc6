"""The local PostgreSQL the suite uses (``127.0.0.1:5432``, database ``test``, trust
authentication). Tests that reach it carry the ``postgres`` marker."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
# The tables a store creates, for dropping those made under a prefix of their own.
TABLES = (
    "consent_records",
    "consent_chain",
    "unknown_cookies",
    "seen_cookie_rules",
    "cookie_rule_vouchers",
    "analytics_outbox",
    "analytics_salts",
    "daily_counts",
    "schema_version",
)


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A database URL whose tables go to a new schema, dropped afterwards: the gateway's
    tables have fixed names, and tests must not see one another's."""
    schema = f"t{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {schema} CASCADE")


def drop_tables(prefix: str) -> None:
    """Drop the tables a store made with ``table_prefix=prefix``."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
        for table in TABLES:
            db.execute(f"DROP TABLE IF EXISTS {prefix}{table}")
