"""``consent-gateway scan``: the cookie names seen that no rule classifies."""

from __future__ import annotations

import argparse
import json
import sys

from gateway.cli.command import Commands, add_config
from gateway.settings import Settings
from gateway.store import describe_url, open_existing_store


def add(commands: Commands) -> None:
    scan = commands.add_parser("scan", help="list cookie names seen that no rule classifies")
    add_config(scan, "settings file (for database_url)")
    scan.add_argument("--limit", type=int, default=100)
    scan.add_argument("--json", action="store_true")
    scan.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.load(args.config)
    print(f"consent-gateway: reading {describe_url(settings.database_url)}", file=sys.stderr)
    store = open_existing_store(settings.database_url)
    try:
        found = store.unknown_cookies(limit=args.limit)
    finally:
        store.close()
    if args.json:
        rows = [
            {
                "name": cookie.name,
                "count": cookie.count,
                "error": cookie.error,
                "first_seen": cookie.first_seen.isoformat(),
                "last_seen": cookie.last_seen.isoformat(),
            }
            for cookie in found
        ]
        print(json.dumps(rows, indent=2))
        return 0
    if not found:
        print("No unclassified cookies recorded.")
        return 0
    print(f"{'count':>8}  {'at least':>8}  {'last seen':<20}  name")
    for cookie in found:
        at_least = cookie.count - cookie.error
        seen = f"{cookie.last_seen:%Y-%m-%d %H:%M:%S}"
        print(f"{cookie.count:>8}  {at_least:>8}  {seen:<20}  {cookie.name!r}")
    print(
        "\nThe table keeps the most frequent names: one that arrived when it was full took the"
        "\nplace of the least counted and inherited its count, so it was seen at least the"
        "\nsecond number of times. Classify them with [[cookies]] entries in your settings"
        "\nfile (see docs/rules.md)."
    )
    return 0
