"""The ``consent-gateway`` command. Each command is a module of this package that adds its
own parser (``add``) and runs (``run``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway.cli import (
    check,
    classify,
    declaration,
    demo,
    forward,
    records,
    rules,
    scan,
    serve,
)
from gateway.settings import SettingsError

COMMANDS = (demo, serve, forward, classify, scan, declaration, records, check, rules)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (SettingsError, ValueError, FileNotFoundError) as error:
        print(f"consent-gateway: {error}", file=sys.stderr)
        return 2


def parser() -> argparse.ArgumentParser:
    """The command line, with every command's parser."""
    result = argparse.ArgumentParser(
        prog="consent-gateway", description="Server-side enforcement of cookie consent."
    )
    commands = result.add_subparsers(required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add(commands)
    return result
