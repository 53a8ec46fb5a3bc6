"""``consent-gateway records``: the operator's tools for the consent records: export them,
show one visitor's, erase one visitor's (a request received by e-mail), verify the chain,
purge what is past ``record_retention_days``, and name the banner a record's hash stands
for. See docs/records.md."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TextIO

from gateway.cli.command import Commands, add_config
from gateway.settings import Settings
from gateway.store import ConsentRecord, Store, describe_url, open_existing_store
from gateway.store.retention import PURGE_BATCH

FIELDS = list(ConsentRecord("", datetime.now(UTC), "", {}, "", "", "", None, None, None).as_json())


def add(commands: Commands) -> None:
    records = commands.add_parser("records", help="export, show, erase, verify, purge records")
    actions = records.add_subparsers(required=True, metavar="ACTION")

    export = actions.add_parser("export", help="every record, streamed, oldest first")
    add_config(export, "settings file (for database_url)")
    export.add_argument("--since", type=moment, help="decided at or after (ISO date or time)")
    export.add_argument("--until", type=moment, help="decided before (ISO date or time)")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.set_defaults(run=run_export)

    show = actions.add_parser("show", help="the records of one consent id, as JSON lines")
    add_config(show, "settings file (for database_url)")
    show.add_argument("consent_id")
    show.set_defaults(run=run_show)

    erase = actions.add_parser("erase", help="erase every trace of one consent id")
    add_config(erase, "settings file (for database_url)")
    erase.add_argument("consent_id")
    erase.set_defaults(run=run_erase)

    verify = actions.add_parser("verify", help="check the chain; exit 1 naming the first bad")
    add_config(verify, "settings file (for database_url)")
    verify.set_defaults(run=run_verify)

    purge = actions.add_parser("purge", help="delete records past record_retention_days now")
    add_config(purge, "settings file (for database_url, record_retention_days)")
    purge.add_argument("--batch", type=int, default=PURGE_BATCH, help="records a transaction")
    purge.set_defaults(run=run_purge)

    banners = actions.add_parser(
        "banners", help="the banner hash of each language under these settings"
    )
    add_config(banners, "settings file (banner_texts and the settings that shape the banner)")
    banners.set_defaults(run=run_banners)


def moment(text: str) -> datetime:
    """An ISO date or time; without a zone, UTC."""
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date or time") from None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def with_store(args: argparse.Namespace, work: Callable[[Store, Settings], int]) -> int:
    settings = Settings.load(args.config)
    print(f"consent-gateway: reading {describe_url(settings.database_url)}", file=sys.stderr)
    store = open_existing_store(settings.database_url)
    try:
        return work(store, settings)
    finally:
        store.close()


def write_jsonl(records: Iterable[ConsentRecord], out: TextIO) -> int:
    count = 0
    for record in records:
        out.write(json.dumps(record.as_json(), ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(records: Iterable[ConsentRecord], out: TextIO) -> int:
    writer = csv.DictWriter(out, FIELDS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for record in records:
        row = record.as_json()
        row["categories"] = json.dumps(row["categories"], sort_keys=True)
        writer.writerow(row)
        count += 1
    return count


def run_export(args: argparse.Namespace) -> int:
    def export(store: Store, settings: Settings) -> int:
        records = store.export_records(args.since, args.until)
        write = write_csv if args.format == "csv" else write_jsonl
        count = write(records, sys.stdout)
        print(f"consent-gateway: exported {count} records", file=sys.stderr)
        return 0

    return with_store(args, export)


def run_show(args: argparse.Namespace) -> int:
    def show(store: Store, settings: Settings) -> int:
        if write_jsonl(store.consent_history(args.consent_id), sys.stdout):
            return 0
        print(f"consent-gateway: no records of {args.consent_id!r}", file=sys.stderr)
        return 1

    return with_store(args, show)


def run_erase(args: argparse.Namespace) -> int:
    def erase(store: Store, settings: Settings) -> int:
        erased = store.erase_consent(args.consent_id)
        print(json.dumps({"consent_id": args.consent_id, "erased": erased}))
        return 0

    return with_store(args, erase)


def run_verify(args: argparse.Namespace) -> int:
    def verify(store: Store, settings: Settings) -> int:
        result = store.verify_records()
        span = (
            f"{result.checked} records ({result.erased} erased) after record "
            f"{result.anchor_sequence}, head record {result.head_sequence} {result.head_hash}"
        )
        if result.ok:
            print(f"OK: {span}")
            return 0
        print(f"BAD: record {result.first_bad}: {result.reason}")
        print(f"checked {span}", file=sys.stderr)
        return 1

    return with_store(args, verify)


def run_purge(args: argparse.Namespace) -> int:
    if args.batch < 1:
        raise ValueError("--batch: at least 1")

    def purge(store: Store, settings: Settings) -> int:
        days = settings.record_retention_days
        older_than = datetime.now(UTC) - timedelta(days=days)
        count = store.purge_records(older_than, args.batch)
        print(f"purged {count} records decided before {older_than:%Y-%m-%d %H:%M:%S} UTC")
        return 0

    return with_store(args, purge)


def run_banners(args: argparse.Namespace) -> int:
    """Which banner a record's ``banner_hash`` names: the hash each language's banner has
    under this release and these settings (an older record's, under the release and
    settings of its time)."""
    from gateway.html.banner import Banner

    settings = Settings.load(args.config)
    banner = Banner.load(settings.api_prefix, settings=settings)
    for language in sorted(banner.languages):
        print(f"{language}\t{banner.shown_hash(language)}")
    return 0
