"""The cookie rule database (``rules/cookies/*.toml``) compiled into a fast classifier.

Precedence: any site rule beats any built-in rule; within one set an exact name beats the
longest prefix, which beats patterns (in file order). Rules with a ``domain`` describe
third-party cookies set on the vendor's own domain: they belong to the cookie declaration
but never classify a first-party cookie, whose generic name (``mid``, ``ts``) may mean
anything on this site.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from gateway.consent import Category
from gateway.resources import rules_dir

_COOKIE_PREFIXES = ("__host-", "__secure-")
_KEYS = {"name", "match", "category", "vendor", "purpose", "retention", "domain"}


class MatchKind(StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"
    PATTERN = "pattern"


@dataclass(frozen=True, slots=True)
class CookieRule:
    """One row of the cookie database."""

    name: str
    match: MatchKind
    category: Category
    vendor: str
    purpose: str
    retention: str
    domain: str | None
    docs: str | None
    origin: str

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, object], *, vendor: str | None, docs: str | None, origin: str
    ) -> CookieRule:
        """A rule from a TOML table; ``ValueError`` names the origin, rule and bad key."""
        name = data.get("name")
        where = f"{origin}: cookie rule {name!r}"
        if not isinstance(name, str) or not name:
            raise ValueError(f"{origin}: a cookie rule needs a non-empty string `name`")
        unknown = set(data) - _KEYS
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; expected {sorted(_KEYS)}")
        for key in ("purpose", "retention", "vendor", "domain"):
            if key in data and not isinstance(data[key], str):
                raise ValueError(f"{where}: `{key}` must be a string")
        try:
            category = Category(str(data.get("category")))
        except ValueError:
            valid = ", ".join(c.value for c in Category)
            raise ValueError(
                f"{where}: `category` {data.get('category')!r} must be one of {valid}"
            ) from None
        try:
            match = MatchKind(str(data.get("match", "exact")))
        except ValueError:
            raise ValueError(f"{where}: `match` must be exact, prefix or pattern") from None
        if match is MatchKind.PATTERN:
            try:
                re.compile(name)
            except re.error as error:
                raise ValueError(f"{where}: not a valid regular expression ({error})") from None
        return cls(
            name=name,
            match=match,
            category=category,
            vendor=str(data.get("vendor") or vendor or "site"),
            purpose=str(data.get("purpose", "")),
            retention=str(data.get("retention", "")),
            domain=str(data["domain"]) if data.get("domain") else None,
            docs=docs,
            origin=origin,
        )


def load_rule_files(directory: Path) -> list[CookieRule]:
    """Every rule in ``directory/*.toml``, files in name order."""
    rules: list[CookieRule] = []
    for path in sorted(directory.glob("*.toml")):
        origin = f"builtin:{path.name}"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: not valid TOML ({error})") from None
        for vendor in data.get("vendor", []):
            for cookie in vendor.get("cookies", []):
                rules.append(
                    CookieRule.from_mapping(
                        cookie, vendor=vendor.get("name"), docs=vendor.get("docs"), origin=origin
                    )
                )
    return rules


class _RuleSet:
    """One precedence level: exact names, prefixes by length, one combined pattern."""

    def __init__(self, rules: Sequence[CookieRule]) -> None:
        self.exact: dict[str, CookieRule] = {}
        prefixes: dict[str, CookieRule] = {}
        patterns: list[CookieRule] = []
        for rule in rules:
            if rule.domain is not None:
                continue
            if rule.match is MatchKind.EXACT:
                self.exact.setdefault(rule.name, rule)
            elif rule.match is MatchKind.PREFIX:
                prefixes.setdefault(rule.name, rule)
            else:
                patterns.append(rule)
        self.prefixes = prefixes
        self.prefix_lengths = sorted({len(p) for p in prefixes}, reverse=True)
        self.patterns = patterns
        self.pattern = (
            re.compile("|".join(f"(?P<r{i}>{rule.name})" for i, rule in enumerate(patterns)))
            if patterns
            else None
        )

    def find(self, name: str) -> CookieRule | None:
        rule = self.exact.get(name)
        if rule is not None:
            return rule
        size = len(name)
        for length in self.prefix_lengths:
            if length <= size:
                rule = self.prefixes.get(name[:length])
                if rule is not None:
                    return rule
        if self.pattern is not None:
            match = self.pattern.fullmatch(name)
            if match is not None and match.lastgroup is not None:
                return self.patterns[int(match.lastgroup[1:])]
        return None


class Classifier:
    """Cookie name -> rule, memoised because a site's cookie names repeat endlessly."""

    def __init__(
        self,
        builtin: Sequence[CookieRule],
        site: Sequence[CookieRule] = (),
        cache_size: int = 4096,
    ) -> None:
        self.rules = (*site, *builtin)
        self._levels = (_RuleSet(site), _RuleSet(builtin))
        self._cache: dict[str, CookieRule | None] = {}
        self._cache_size = cache_size

    @classmethod
    def default(cls, site: Sequence[CookieRule] = ()) -> Classifier:
        return cls(load_rule_files(rules_dir() / "cookies"), site)

    def classify(self, name: str) -> CookieRule | None:
        try:
            return self._cache[name]
        except KeyError:
            pass
        rule = self._lookup(name)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[name] = rule
        return rule

    def _lookup(self, name: str) -> CookieRule | None:
        for level in self._levels:
            rule = level.find(name)
            if rule is None and name[:2] == "__":
                lowered = name.lower()
                for prefix in _COOKIE_PREFIXES:
                    if lowered.startswith(prefix):
                        rule = level.find(name[len(prefix) :])
            if rule is not None:
                return rule
        return None
