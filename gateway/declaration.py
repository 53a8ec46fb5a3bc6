"""The site's cookie declaration: which cookies the banner's preferences dialog lists.

Listing all ~940 built-in rules would describe every site but this one. The declaration
holds the gateway's own consent cookie, the site's own rules (``cookies``, ``rule_files``;
a rule file that says ``declare = "when-seen"``, such as an imported database, is treated as
the built-in rules are), every rule of the vendors named in ``declared_vendors`` (their
third-party cookies too, which the gateway never sees: a YouTube player's, say) and, with
``declare_seen_cookies``, the built-in (and "when-seen") rules whose cookies this site was
seen to use.

Seen, but by whom: the site's own ``Set-Cookie`` is trusted, and its rule is listed at once.
A cookie a browser sends back may have been made up by whoever sent the request, yet scripts
such as gtag.js set theirs in the browser, so they are only ever seen coming back: such a
rule is listed once the browsers of ``declare_seen_visitors`` distinct visitors sent it.
Visitors are told apart by their network (IPv4 /24, IPv6 /48, as analytics truncates them):
a consent id is minted by any request and a User-Agent is any string, so counting either
would let one machine be any number of visitors. Each network vouches for at most
``RULES_PER_VISITOR`` rules a day: with the default of 3 visitors, a client needs addresses in
three networks to list anything, and lists at most 32 rules a day per three networks.

Rules are noted in memory on the request path (a set look-up once a rule is listed) and
written to the store now and then, keyed by ``<match>:<name>``: replicas sharing a database
and a restarted gateway list the same cookies. Keys, not cookie names, are stored: some names
carry a user number (``wp-settings-1``) and no visitor data belongs in a public list. A
network is stored only as a keyed hash under the day's salt (``gateway.analytics.salts``),
which is deleted after two days: then nobody can tell which network it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from gateway.consent import Category
from gateway.rules import BUILTIN_ORIGIN, CookieRule, MatchKind

SITE = "site"  # what showed a cookie: the site's own Set-Cookie (else a visitor's network)
RULES_PER_VISITOR = 32  # a network vouches for at most this many rules a day
MAX_PENDING_VISITORS = 1_000  # networks noted between two writes
VISITOR_HASH_SITE = "cookie declaration"  # what the day's salted hash is for
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
    """Built-in rules whose cookies were seen on this site, pending a write to the store:
    those the site set (listed at once) and, per visitor network, those its browsers sent.

    ``note`` runs on the request path for every name the policy classifies anew, so it is a
    set look-up once a rule is listed; what is pending is bounded.
    """

    def __init__(self, on_pending: Callable[[], None] | None = None) -> None:
        self._set: set[str] = set()  # keys set by the site, not written yet
        self._sent: dict[str, set[str]] = {}  # visitor network -> keys sent, not written yet
        self.known: set[str] = set()  # the keys listed: by this process or the store
        self.on_pending = on_pending  # called when a new batch begins

    def note(self, rule: CookieRule, shown_by: str) -> None:
        """``rule`` classified a cookie that the site set (``shown_by`` is ``SITE``) or that
        the browser of a visitor in network ``shown_by`` sent."""
        if not rule.declared_when_seen:
            return
        key = rule_key(rule)
        if key in self.known:
            return
        if shown_by == SITE:
            self._begin()
            self._set.add(key)
            self.known.add(key)
            return
        keys = self._sent.get(shown_by)
        if keys is None:
            if len(self._sent) >= MAX_PENDING_VISITORS:
                return  # until the next write
            keys = self._sent[shown_by] = set()
        if len(keys) < RULES_PER_VISITOR and key not in keys:
            self._begin()
            keys.add(key)

    def _begin(self) -> None:
        if not self._set and not self._sent and self.on_pending is not None:
            self.on_pending()

    def take(self) -> tuple[set[str], dict[str, set[str]]]:
        """The keys set by the site and the keys sent per network, not written yet; cleared."""
        batch = self._set, self._sent
        self._set, self._sent = set(), {}
        return batch

    def put_back(self, set_keys: Iterable[str], sent: Mapping[str, Iterable[str]]) -> None:
        """What a failed write held, to be written with the next batch."""
        self._begin()
        self._set.update(set_keys)
        for network, keys in sent.items():
            self._sent.setdefault(network, set()).update(keys)

    def read(self, stored: Iterable[str]) -> None:
        """The keys listed are the store's (fewer after a reset) and those not written yet."""
        self.known = set(stored) | self._set


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
    vendors' rules, and (``include_seen``) the other rules whose key is in ``seen``."""
    listed: dict[str, list[dict[str, str]]] = {category.value: [] for category in Category}
    done: set[tuple[str, str]] = set()
    for rule in rules:
        wanted = (
            not rule.declared_when_seen
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
