"""``consent-gateway declaration reset``: forget the built-in cookie rules seen on the site."""

from __future__ import annotations

import argparse

from gateway.cli.command import Commands, add_config
from gateway.settings import Settings
from gateway.store import describe_url, open_existing_store


def add(commands: Commands) -> None:
    declaration = commands.add_parser("declaration", help="work with the cookie declaration")
    actions = declaration.add_subparsers(required=True, metavar="ACTION")
    reset = actions.add_parser(
        "reset",
        help="forget the built-in cookie rules seen on the site, in the database of "
        "database_url (never creating one): the declaration lists them again only once the "
        "site sets their cookies or enough visitors send them",
    )
    add_config(reset, "settings file (for database_url)")
    reset.set_defaults(run=reset_seen)


def reset_seen(args: argparse.Namespace) -> int:
    settings = Settings.load(args.config)
    shown = describe_url(settings.database_url)
    store = open_existing_store(settings.database_url)
    try:
        forgotten = store.reset_cookie_rules()
    finally:
        store.close()
    print(
        f"{shown}: forgot {forgotten} built-in cookie rule(s) seen on the site. Running "
        "gateways follow within a minute; each rule is listed again once the site sets its "
        "cookie or enough visitors send it."
    )
    return 0
