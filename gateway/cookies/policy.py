"""The verdict per cookie name: which category a cookie belongs to on this site.

``CookiePolicy`` is built once from the settings (the site's rules in front of the built-in
ones, the consent cookie's own rule, what ``unknown_cookies`` says) and classifies names on
the request path, noting what the cookie declaration and ``consent-gateway scan`` need.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gateway.consent.state import Category
from gateway.cookies.declaration import SeenRules
from gateway.cookies.inventory import UnknownCookieLog
from gateway.cookies.rules import Classifier, CookieRule, MatchKind, load_site_rule_file
from gateway.settings import Settings


def site_rules(settings: Settings) -> list[CookieRule]:
    """The site's own rules: ``cookies`` entries first, then each of ``rule_files``.

    An entry the operator wrote into the settings may make a built-in essential cookie
    non-essential without saying ``override = true``; a rule file's rule may not.
    """
    rules = [
        CookieRule.from_mapping(rule, vendor=None, docs=None, origin="site", override=True)
        for rule in settings.cookies
    ]
    for path in site_rule_paths(settings):
        rules.extend(load_site_rule_file(path))
    return rules


def site_rule_paths(settings: Settings) -> list[Path]:
    """The files ``site_rules`` reads, in order: what a running gateway watches for changes
    (``rules_reload_interval``)."""
    return list(settings.rule_files)


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
