"""``consent-gateway classify``: how cookie names are classified, and by which rule."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from gateway.cli.command import Commands, add_config
from gateway.cookies.policy import site_rules
from gateway.cookies.rules import Classifier, CookieRule
from gateway.settings import Settings


def add(commands: Commands) -> None:
    classify = commands.add_parser("classify", help="show how cookie names are classified")
    classify.add_argument("names", nargs="+", metavar="NAME")
    classify.add_argument("--json", action="store_true", help="print JSON lines")
    add_config(classify, "settings file with site rules")
    classify.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.load(args.config)
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
