"""The site's cookie declaration: which cookies the banner's preferences dialog lists.

Listing all ~940 built-in rules would describe every site but this one. The declaration
holds the gateway's own consent cookie, the site's own rules (``cookies``, ``rule_files``),
every rule of the vendors named in ``declared_vendors`` (their third-party cookies too, which
the gateway never sees: a YouTube player's, say) and, with ``declare_seen_cookies``, the
built-in rules that classified a cookie this site set or a browser sent back to it (scripts
such as gtag.js set theirs in the browser, so they are only seen coming back).

Seen rules are noted in memory when the policy classifies a name (once per rule and process,
a set look-up) and written to the store now and then, keyed by ``<match>:<name>``: replicas
sharing a database and a restarted gateway list the same cookies. Keys, not cookie names,
are stored: some names carry a user number (``wp-settings-1``) and no visitor data belongs
in a public list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence

from gateway.consent import Category
from gateway.rules import CookieRule, MatchKind

BUILTIN_ORIGIN = "builtin:"
DeclarationJSON = dict[str, list[dict[str, str]]]

# One piece of a rule's pattern: a class escape (\d), another escape (\.), a class, group or
# "." (each with its quantifier), an anchor, or an optional character ("S?").
_PATTERN_TOKEN = re.compile(
    r"\\[dDwWsS][+*?]?(?:\{[\d,]+\})?"
    r"|\\(?P<literal>.)"
    r"|(?:\[[^\]]*\]|\([^)]*\)|\.)[+*?]?(?:\{[\d,]+\})?"
    r"|(?P<anchor>[\^$])"
    r"|.[?*]"
)
_ELLIPSES = re.compile(r"…+")


def rule_key(rule: CookieRule) -> str:
    """How a built-in rule is stored: stable while the rule's name and match kind are."""
    return f"{rule.match.value}:{rule.name}"


class SeenRules:
    """Built-in rules that classified a cookie on this site, pending a write to the store.

    ``note`` runs on the request path for every name the policy classifies anew, so it is
    one set look-up once a rule is known; the pending set is bounded by the rule database.
    """

    def __init__(self, on_pending: Callable[[], None] | None = None) -> None:
        self._noted: set[int] = set()  # id() of the rule objects, which the classifier holds
        self._pending: set[str] = set()
        self.known: set[str] = set()  # every key this process saw or read from the store
        self.on_pending = on_pending  # called when a new batch begins

    def note(self, rule: CookieRule) -> None:
        key = id(rule)
        if key in self._noted:
            return
        self._noted.add(key)
        if rule.origin.startswith(BUILTIN_ORIGIN):
            if not self._pending and self.on_pending is not None:
                self.on_pending()
            self._pending.add(rule_key(rule))
            self.known.add(rule_key(rule))

    def take(self) -> set[str]:
        """The keys not written yet, which are cleared."""
        batch, self._pending = self._pending, set()
        return batch

    def put_back(self, keys: Iterable[str]) -> None:
        """Keys whose write failed, to be written with the next batch."""
        self._pending.update(keys)


def unknown_vendors(rules: Sequence[CookieRule], vendors: Iterable[str]) -> list[str]:
    """The names in ``vendors`` that no built-in rule has as its vendor."""
    known = {rule.vendor for rule in rules if rule.origin.startswith(BUILTIN_ORIGIN)}
    return [vendor for vendor in vendors if vendor not in known]


def display_name(rule: CookieRule) -> str:
    """The cookie name as a visitor can read it: ``_ga_…`` for a prefix, patterns with
    ``…`` where a part varies (``mp_[0-9a-f]+_mixpanel`` -> ``mp_…_mixpanel``)."""
    if rule.match is MatchKind.EXACT:
        return rule.name
    if rule.match is MatchKind.PREFIX:
        return rule.name + "…"
    return _ELLIPSES.sub("…", _PATTERN_TOKEN.sub(_readable, rule.name))


def _readable(token: re.Match[str]) -> str:
    if token["literal"] is not None:
        return token["literal"]
    return "" if token["anchor"] is not None else "…"


def build(
    rules: Sequence[CookieRule],
    seen: Collection[str],
    vendors: Collection[str],
    *,
    include_seen: bool,
) -> DeclarationJSON:
    """The declaration by category: the site's and the gateway's rules, the declared
    vendors' rules, and (``include_seen``) the built-in rules whose key is in ``seen``."""
    listed: dict[str, list[dict[str, str]]] = {category.value: [] for category in Category}
    done: set[tuple[str, str]] = set()
    for rule in rules:
        builtin = rule.origin.startswith(BUILTIN_ORIGIN)
        wanted = (
            not builtin
            or rule.vendor in vendors
            or (include_seen and rule.domain is None and rule_key(rule) in seen)
        )
        name = display_name(rule)
        if not wanted or (name, rule.domain or "") in done:
            continue  # a site rule shadows the built-in one of the same name
        done.add((name, rule.domain or ""))
        entry = {
            "name": name,
            "vendor": rule.vendor,
            "purpose": rule.purpose,
            "retention": rule.retention,
        }
        if rule.domain:
            entry["domain"] = rule.domain
        listed[rule.category.value].append(entry)
    for entries in listed.values():
        entries.sort(key=lambda entry: (entry["vendor"].lower(), entry["name"].lower()))
    return listed
