"""``consent-gateway check``: a settings file is valid when the gateway it describes builds."""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.app import Gateway
from gateway.cli.command import Commands
from gateway.cookies.rules import Classifier
from gateway.proxy import ProxyApp
from gateway.settings import Settings


def add(commands: Commands) -> None:
    check = commands.add_parser("check", help="validate a settings file")
    check.add_argument("file", type=Path)
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.load(args.file, environ={})
    # Built as a server builds it, so a file `check` accepts is one a server starts with.
    # The secret may come from the environment at run time: a stand-in is enough here.
    stand_in = {"secret": settings.secret or ["x" * 32]}
    gateway = Gateway(settings.model_copy(update=stand_in))
    if settings.upstream:
        ProxyApp.from_settings(settings)  # what `serve` builds from them
    _print_essential_conflicts(gateway.cookies.classifier)
    print(f"{args.file}: OK")
    return 0


def _print_essential_conflicts(classifier: Classifier) -> None:
    """Name the site rules that meet a cookie a built-in rule calls essential."""
    for site, builtin in classifier.essential_conflicts():
        rule = f"{site.origin}: rule {site.name!r} ({site.vendor}, {site.category.value})"
        essential = f"{builtin.name!r}, essential for {builtin.vendor}"
        if site.override:
            print(f"note: {rule} makes {essential}, non-essential: it overrides the built-in rule")
        else:
            print(
                f"note: {rule} does not apply to {essential}: the built-in rule wins; "
                "add `override = true` to the rule if this site means it"
            )
