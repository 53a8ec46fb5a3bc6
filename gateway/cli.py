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

from gateway.rules import Classifier, CookieRule
from gateway.settings import Settings, SettingsError

if TYPE_CHECKING:
    from gateway.middleware import ConsentMiddleware


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

    from gateway.server import options

    settings = Settings.load(args.config)
    app = _gateway(settings)
    if not settings.secret:
        print(
            "WARNING: no secret configured (CONSENT_GATEWAY_SECRET or `secret` in the settings "
            "file). Using a random development secret: every restart forgets all consent "
            "choices. Never run like this in production.",
            file=sys.stderr,
        )
    print(f"consent-gateway: demo site on http://{args.host}:{args.port}/", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, **options(settings.max_header_bytes))
    return 0


def _gateway(settings: Settings) -> ConsentMiddleware:
    """What `serve` runs: the demo site behind the gateway, with a random secret when none is
    configured. `check` builds the same, so a file it accepts is one `serve` starts with."""
    from gateway.demo import DEMO_SITE_RULES, create_demo_app
    from gateway.middleware import ConsentMiddleware

    overrides: dict[str, object] = {}
    if not settings.secret:
        overrides["secret"] = [secrets.token_urlsafe(32)]
    if not settings.cookies:
        overrides["cookies"] = DEMO_SITE_RULES
    return ConsentMiddleware(create_demo_app(), settings.model_copy(update=overrides))


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
        elsewhere = classifier.elsewhere(name)
        if rule is None:
            unknown += 1
        if args.json:
            print(json.dumps(_rule_json(name, rule, elsewhere)))
        elif rule is None:
            line = f"{name}\tunknown\t(unknown_cookies: {settings.unknown_cookies})"
            if elsewhere:
                line += "\t" + "; ".join(
                    f"set on {other.domain} by {other.vendor} ({other.category.value})"
                    for other in elsewhere
                )
                line += ", never on this site"
            print(line)
        else:
            rule_text = f"{rule.match.value} {rule.name!r} in {rule.origin}"
            print(f"{name}\t{rule.category.value}\t{rule.vendor}\t{rule_text}")
    return 1 if unknown else 0


def _rule_json(
    name: str, rule: CookieRule | None, elsewhere: Sequence[CookieRule]
) -> dict[str, object]:
    """What classifies ``name`` on this site, and ``elsewhere``: the vendors that set a
    cookie of that name on their own domain, which never classify it here."""
    found = {"category": None, "vendor": None, "rule": None} if rule is None else _rule_fields(rule)
    return {"name": name, **found, "elsewhere": [_rule_fields(other) for other in elsewhere]}


def _rule_fields(rule: CookieRule) -> dict[str, object]:
    fields: dict[str, object] = {
        "category": rule.category.value,
        "vendor": rule.vendor,
        "purpose": rule.purpose,
        "retention": rule.retention,
        "rule": {"name": rule.name, "match": rule.match.value, "origin": rule.origin},
    }
    if rule.domain is not None:
        fields["domain"] = rule.domain
    return fields


def _scan(args: argparse.Namespace) -> int:
    from gateway.store import describe_url, open_existing_store

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


def _reset_declaration(args: argparse.Namespace) -> int:
    from gateway.store import describe_url, open_existing_store

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


def _check(args: argparse.Namespace) -> int:
    # The secret may come from the environment at run time: `_gateway` stands one in.
    gateway = _gateway(Settings.load(args.file, environ={}))
    _print_essential_conflicts(gateway.policy.classifier)
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


def _import_ocd(args: argparse.Namespace) -> int:
    from gateway.ocd import import_ocd

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


if __name__ == "__main__":
    raise SystemExit(main())
