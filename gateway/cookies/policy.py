"""The verdict per cookie name: which category a cookie belongs to on this site.

``CookiePolicy`` is built once from the settings (the site's rules in front of the built-in
ones, the consent cookie's own rule, what ``unknown_cookies`` says) and classifies names on
the request path, noting what the cookie declaration and ``consent-gateway scan`` need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from gateway.consent.state import Category
from gateway.cookies.declaration import SeenRules
from gateway.cookies.inventory import UnknownCookieLog
from gateway.cookies.rules import Classifier, CookieRule, MatchKind, load_site_rule_file
from gateway.settings import Settings
from gateway.store import sqlite_path

CLASSIFIED_RULES_NAME = "classified-cookies.toml"
ADMIN_COOKIE_NAME = "cg_admin"


def site_rules(settings: Settings) -> list[CookieRule]:
    """The site's own rules: ``cookies`` entries first, then the cookies classified in the
    admin page (``classified_rules_path``), then each of ``rule_files``.

    An entry the operator wrote into the settings may make a built-in essential cookie
    non-essential without saying ``override = true``; a rule file's rule may not.
    """
    rules = [
        CookieRule.from_mapping(rule, vendor=None, docs=None, origin="site", override=True)
        for rule in settings.cookies
    ]
    if settings.admin_token:
        rules.insert(0, admin_cookie_rule(settings))
    classified = classified_rules_path(settings)
    for path in site_rule_paths(settings):
        if path != classified or path.is_file():  # the admin page writes it when first used
            rules.extend(load_site_rule_file(path))
    return rules


def classified_rules_path(settings: Settings) -> Path:
    """The rules file the admin page classifies cookies into (``classified_rules_file``):
    by default beside the SQLite database, or in the working directory."""
    if settings.classified_rules_file is not None:
        return settings.classified_rules_file
    database = sqlite_path(settings.database_url)
    folder = Path(database).parent if database and database != ":memory:" else Path()
    return folder / CLASSIFIED_RULES_NAME


def admin_cookie_rule(settings: Settings) -> CookieRule:
    """The admin page's session cookie (``gateway.admin``): essential, set only for the
    operators who sign in there."""
    return CookieRule.from_mapping(
        {
            "name": ADMIN_COOKIE_NAME,
            "match": MatchKind.EXACT.value,
            "category": Category.ESSENTIAL.value,
            "retention": f"{settings.admin_session_minutes} minutes",
            "purpose": "Keeps an operator signed in to the gateway's admin page.",
        },
        vendor="consent-gateway",
        docs=None,
        origin="gateway",
    )


def site_rule_paths(settings: Settings) -> list[Path]:
    """The files ``site_rules`` reads, in order (the admin page's classifications, then
    ``rule_files``): what a running gateway watches for changes (``rules_reload_interval``)."""
    return [classified_rules_path(settings), *settings.rule_files]


def consent_cookie_rule(settings: Settings) -> CookieRule:
    """The gateway's own consent cookie: essential, and declared."""
    return CookieRule.from_mapping(
        {
            "name": settings.cookie_name,
            "match": MatchKind.EXACT.value,
            "category": Category.ESSENTIAL.value,
            "retention": f"{settings.cookie_lifetime_days} days",
            "purpose": "Remembers the visitor's consent choices.",
        },
        vendor="consent-gateway",
        docs=None,
        origin="gateway",
    )


def cmp_cookie_rules(names: Iterable[str], classifier: Classifier) -> list[CookieRule]:
    """Essential rules for the cookies the ``consent_source`` adapters read (``names``) that
    ``classifier`` does not call essential already: the gateway never hides from the app,
    or expires, the choice it reads, under whatever name the site's CMP keeps it and
    whatever ``unknown_cookies`` says."""
    rules = []
    for name in names:
        known = classifier.classify(name)
        if known is None or known.category is not Category.ESSENTIAL:
            rule = {
                "name": name,
                "match": MatchKind.EXACT.value,
                "category": Category.ESSENTIAL.value,
                "retention": "as the site's consent banner sets it",
                "purpose": "Stores the visitor's consent choices (the site's consent banner).",
            }
            rules.append(CookieRule.from_mapping(rule, vendor=None, docs=None, origin="gateway"))
    return rules


class CookiePolicy:
    """Cookie name -> category, with the bookkeeping of names seen on this site."""

    def __init__(
        self,
        settings: Settings,
        *,
        classifier: Classifier | None = None,
        on_unknown: Callable[[], None] | None = None,
    ) -> None:
        self.classifier = classifier or Classifier.default(
            [consent_cookie_rule(settings), *site_rules(settings)]
        )
        self.unknown_log = UnknownCookieLog()
        self.seen_rules = SeenRules()  # for the cookie declaration (gateway.cookies.declaration)
        self._on_unknown = on_unknown
        unknown = settings.unknown_cookies
        self._unknown_category: Category | None = (
            Category.ESSENTIAL if unknown == "allow" else None if unknown == "deny" else unknown
        )

    def classify(self, name: str, shown_by: str | None = None) -> tuple[Category | None, bool]:
        """The category of cookie ``name`` (``None``: it may never pass), and whether it is
        unknown (no rule classifies it, so ``unknown_cookies`` decided). ``shown_by`` notes
        its rule for the declaration: ``declaration.SITE`` when the site set the cookie,
        else the network of the visitor whose browser sent it."""
        rule = self.classifier.classify(name)
        if rule is None:
            return self._unknown_category, True
        if shown_by is not None:
            self.seen_rules.note(rule, shown_by)
        return rule.category, False

    def category_of(self, name: str) -> Category | None:
        """The category of cookie ``name``; ``None`` means it may never pass."""
        return self.classify(name)[0]

    def note_unknown(self, name: str) -> None:
        """Count an unclassified cookie seen, for ``consent-gateway scan`` and the metric."""
        self.unknown_log.note(name)
        if self._on_unknown is not None:
            self._on_unknown()
