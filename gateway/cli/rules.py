"""``consent-gateway rules``: work with cookie rule files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.cli.command import Commands
from gateway.cookies.ocd import import_ocd


def add(commands: Commands) -> None:
    rules = commands.add_parser("rules", help="work with cookie rule files")
    actions = rules.add_subparsers(required=True, metavar="ACTION")
    ocd = actions.add_parser(
        "import-ocd", help="turn an Open Cookie Database CSV into a site rules file"
    )
    ocd.add_argument("csv", type=Path)
    ocd.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    ocd.set_defaults(run=run_import_ocd)


def run_import_ocd(args: argparse.Namespace) -> int:
    text, report = import_ocd(args.csv)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    print(
        f"imported {report.cookies} cookies from {report.vendors} vendors "
        f"({report.third_party} set on the vendor's own domain, which never classify a cookie "
        f"of this site); skipped {len(report.skipped)} rows",
        file=sys.stderr,
    )
    for line, reason in report.skipped[:20]:
        print(f"  line {line}: {reason}", file=sys.stderr)
    return 0
