"""The ``consent-gateway`` command: serve, classify, scan, check, import rules, reset the
declaration."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from gateway.rules import Classifier, CookieRule
from gateway.settings import Settings, SettingsError

if TYPE_CHECKING:
    from gateway.store import Store


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (SettingsError, ValueError, FileNotFoundError) as error:
        print(f"consent-gateway: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="consent-gateway",
        description="Server-side enforcement of cookie consent.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gateway in front of the demo site")
    serve.add_argument("--config", type=Path, help="settings file (TOML)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(run=_serve)

    forward = commands.add_parser(
        "forward", help='forward the analytics outbox (with analytics.forwarder = "separate")'
    )
    forward.add_argument("--config", type=Path, help="settings file (TOML)")
    forward.add_argument(
        "--metrics-port", type=int, help="serve Prometheus metrics on this port (default: off)"
    )
    forward.add_argument("--metrics-host", default="127.0.0.1", help="address for the metrics")
    forward.set_defaults(run=_forward)

    classify = commands.add_parser("classify", help="show how cookie names are classified")
    classify.add_argument("names", nargs="+", metavar="NAME")
    classify.add_argument("--json", action="store_true", help="print JSON lines")
    classify.add_argument("--config", type=Path, help="settings file with site rules")
    classify.set_defaults(run=_classify)

    scan = commands.add_parser("scan", help="list cookie names seen that no rule classifies")
    scan.add_argument("--config", type=Path, help="settings file (for database_url)")
    scan.add_argument("--limit", type=int, default=100)
    scan.add_argument("--json", action="store_true")
    scan.set_defaults(run=_scan)

    declaration = commands.add_parser("declaration", help="work with the cookie declaration")
    declaration_commands = declaration.add_subparsers(required=True, metavar="ACTION")
    reset = declaration_commands.add_parser(
        "reset",
        help="forget the built-in cookie rules seen on the site, in the database of "
        "database_url (never creating one): the declaration lists them again only once the "
        "site sets their cookies or enough visitors send them",
    )
    reset.add_argument("--config", type=Path, help="settings file (for database_url)")
    reset.set_defaults(run=_reset_declaration)

    check = commands.add_parser("check", help="validate a settings file")
    check.add_argument("file", type=Path)
    check.set_defaults(run=_check)

    rules = commands.add_parser("rules", help="work with cookie rule files")
    rule_commands = rules.add_subparsers(required=True, metavar="ACTION")
    ocd = rule_commands.add_parser(
        "import-ocd", help="turn an Open Cookie Database CSV into a site rules file"
    )
    ocd.add_argument("csv", type=Path)
    ocd.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    ocd.set_defaults(run=_import_ocd)
    return parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.demo import DEMO_SITE_RULES, create_demo_app
    from gateway.middleware import ConsentMiddleware

    overrides: dict[str, object] = {}
    settings = Settings.load(args.config)
    if not settings.secret:
        overrides["secret"] = [secrets.token_urlsafe(32)]
        print(
            "WARNING: no secret configured (CONSENT_GATEWAY_SECRET or `secret` in the settings "
            "file). Using a random development secret: every restart forgets all consent "
            "choices. Never run like this in production.",
            file=sys.stderr,
        )
    if not settings.cookies:
        overrides["cookies"] = DEMO_SITE_RULES
    app = ConsentMiddleware(create_demo_app(), settings.model_copy(update=overrides))
    print(f"consent-gateway: demo site on http://{args.host}:{args.port}/", file=sys.stderr)
    # X-Forwarded-For is read by the gateway itself, from `trusted_proxies` only.
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", proxy_headers=False)
    return 0


def _forward(args: argparse.Namespace) -> int:
    from gateway.analytics.standalone import run

    return run(
        Settings.load(args.config), metrics_host=args.metrics_host, metrics_port=args.metrics_port
    )


def _classify(args: argparse.Namespace) -> int:
    settings = Settings.load(args.config)
    from gateway.policy import site_rules

    classifier = Classifier.default(site_rules(settings))
    unknown = 0
    for name in args.names:
        rule = classifier.classify(name)
        if rule is None:
            unknown += 1
        if args.json:
            print(json.dumps(_rule_json(name, rule)))
        elif rule is None:
            print(f"{name}\tunknown\t(unknown_cookies: {settings.unknown_cookies})")
        else:
            rule_text = f"{rule.match.value} {rule.name!r} in {rule.origin}"
            print(f"{name}\t{rule.category.value}\t{rule.vendor}\t{rule_text}")
    return 1 if unknown else 0


def _rule_json(name: str, rule: CookieRule | None) -> dict[str, object]:
    if rule is None:
        return {"name": name, "category": None, "vendor": None, "rule": None}
    return {
        "name": name,
        "category": rule.category.value,
        "vendor": rule.vendor,
        "purpose": rule.purpose,
        "retention": rule.retention,
        "rule": {"name": rule.name, "match": rule.match.value, "origin": rule.origin},
    }


def _scan(args: argparse.Namespace) -> int:
    from gateway.store import open_store

    settings = Settings.load(args.config)
    store = open_store(settings.database_url)
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
        "\nfile (see README)."
    )
    return 0


def _reset_declaration(args: argparse.Namespace) -> int:
    settings = Settings.load(args.config)
    shown = _database(settings.database_url)
    store = _existing_store(settings.database_url, shown)
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


def _database(url: str) -> str:
    """Which database ``url`` names, to say so: a SQLite file by its full path, any other
    database by its URL without the password."""
    from gateway.store import sqlite_path

    path = sqlite_path(url)
    if path is not None:
        return f"SQLite database {Path(path).resolve() if path != ':memory:' else path}"
    parts = urlsplit(url)
    if parts.password is not None:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        url = urlunsplit(parts._replace(netloc=netloc))
    return f"database {url}"


def _existing_store(url: str, shown: str) -> Store:
    """The store at ``url``, which must exist: a command that changes it never creates one."""
    from gateway.store import open_store, sqlite_path

    path = sqlite_path(url)
    if path is not None and (path == ":memory:" or not Path(path).is_file()):
        raise FileNotFoundError(f"no {shown} (database_url): nothing to do")
    try:
        return open_store(url)
    except Exception as error:  # a server that refuses, a database that is not there
        raise ValueError(f"cannot open the {shown}: {error}") from None


def _check(args: argparse.Namespace) -> int:
    from gateway.policy import ConsentPolicy

    settings = Settings.load(args.file, environ={})
    # Building the policy compiles the site rules and opens the GeoIP database; the secret
    # may come from the environment at run time, so a stand-in is enough here.
    ConsentPolicy(settings.model_copy(update={"secret": settings.secret or ["x" * 32]}))
    print(f"{args.file}: OK")
    return 0


def _import_ocd(args: argparse.Namespace) -> int:
    from gateway.ocd import import_ocd

    text, report = import_ocd(args.csv)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    print(
        f"imported {report.cookies} cookies from {report.vendors} vendors; "
        f"skipped {len(report.skipped)} rows",
        file=sys.stderr,
    )
    for line, reason in report.skipped[:20]:
        print(f"  line {line}: {reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
