"""The cookie rule database (``rules/cookies/*.toml``) compiled into a fast classifier.

Classification runs for every cookie of every request, so everything that does not depend
on the cookie name happens once, in ``Classifier.__init__``: exact names go into a dict,
prefixes into a dict probed at the few lengths that exist for the name's first character,
and all patterns into one alternation whose matching group tells which rule matched.

Precedence: a site rule beats a built-in rule, except that it never turns a cookie a built-in
rule calls essential into a non-essential one unless it says ``override = true`` (rules in the
settings' ``cookies`` say so by default; rule files, often imported wholesale, do not): a
generic imported name must not break the site's logins. Within one set an exact name beats
the longest prefix, which beats patterns (in file order). Rules with a ``domain`` describe
third-party cookies set on the vendor's own domain: they belong to the cookie declaration
but never classify a first-party cookie, whose generic name (``mid``, ``ts``) may mean
anything on this site.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from gateway.consent.state import Category
from gateway.memo import Memo
from gateway.resources import rules_dir

# RFC 6265bis: browsers ignore cookies whose name holds a control character, the name ends
# at "=" and the pair at ";", and whitespace around the name is trimmed.
_NOT_IN_COOKIE_NAMES = re.compile(r"[\x00-\x1f\x7f;=]|^\s|\s$")
# Numbered or named references would point at the wrong group once patterns are combined.
_GROUP_REFERENCE = re.compile(r"(?<!\\)(?:\\\\)*(?:\\[1-9]|\(\?P=|\(\?\()")
_RULE_KEYS = frozenset({"name", "match", "category", "purpose", "retention", "domain"})
_SITE_RULE_KEYS = _RULE_KEYS | {"override"}
_VENDOR_KEYS = frozenset({"name", "docs", "cookies"})
_DECLARE = ("always", "when-seen")
BUILTIN_ORIGIN = "builtin:"
_HOST_PREFIX = "__host-"
_SECURE_PREFIX = "__secure-"
_Choice = TypeVar("_Choice", bound=StrEnum)


class MatchKind(StrEnum):
    """How a rule's ``name`` is compared with a cookie name."""

    EXACT = "exact"
    PREFIX = "prefix"
    PATTERN = "pattern"


def cookie_name_problem(name: str) -> str | None:
    """Why ``name`` can never be the name of a cookie a browser sends, or ``None``."""
    if not name:
        return "is empty"
    if not name.isascii():
        return "holds non-ASCII characters"
    if _NOT_IN_COOKIE_NAMES.search(name):
        return "holds a control character, ';', '=' or surrounding whitespace"
    return None


@dataclass(frozen=True, slots=True)
class CookieRule:
    """One row of the cookie database: which cookie, whose, why and for how long."""

    name: str
    match: MatchKind
    category: Category
    vendor: str
    purpose: str
    retention: str
    domain: str | None
    docs: str | None
    origin: str
    override: bool = False
    when_seen: bool = False  # from a rule file that says ``declare = "when-seen"``

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, object],
        *,
        vendor: str | None,
        docs: str | None,
        origin: str,
        override: bool | None = None,
    ) -> CookieRule:
        """A rule from a TOML table or a settings entry.

        ``vendor=None`` means a settings entry, which may carry its own ``vendor`` key.
        ``override`` is the default of the site rules' ``override`` key; ``None`` (built-in
        rules) forbids the key. Bad input raises ``ValueError`` naming ``origin``, the rule
        and the key with the expected form.
        """
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{origin}: every cookie rule needs a `name` (a non-empty string)")
        where = f"{origin}: cookie rule {name!r}"
        allowed = _RULE_KEYS if override is None else _SITE_RULE_KEYS
        allowed = allowed | {"vendor"} if vendor is None else allowed
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; expected {sorted(allowed)}")
        match = _choice(MatchKind, "match", data.get("match", MatchKind.EXACT.value), where)
        if match is MatchKind.PATTERN:
            _check_pattern(name, where)
        else:
            problem = cookie_name_problem(name)
            if problem is not None:
                raise ValueError(f"{where}: `name` {problem}, so no cookie can match it")
        return cls(
            name=name,
            match=match,
            category=_choice(Category, "category", data.get("category"), where),
            vendor=vendor or _text(data, "vendor", where, default="site"),
            purpose=_text(data, "purpose", where),
            retention=_text(data, "retention", where),
            domain=_text(data, "domain", where, default="") or None,
            docs=docs,
            origin=origin,
            override=_flag(data, "override", where, default=bool(override)),
        )

    @property
    def declared_when_seen(self) -> bool:
        """Whether the cookie declaration lists this rule only once the site was seen to use
        its cookie (``gateway.cookies.declaration``): built-in rules and an imported database's
        describe other sites too; the site's own rules are its list."""
        return self.when_seen or self.origin.startswith(BUILTIN_ORIGIN)

    def matches(self, name: str) -> bool:
        """Whether this rule, on its own, covers cookie ``name``."""
        if self.match is MatchKind.EXACT:
            return name == self.name
        if self.match is MatchKind.PREFIX:
            return name.startswith(self.name)
        return re.fullmatch(self.name, name) is not None


def _flag(data: Mapping[str, object], key: str, where: str, *, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{where}: `{key}` must be true or false, not {value!r}")
    return value


def _text(data: Mapping[str, object], key: str, where: str, *, default: str | None = None) -> str:
    value = data.get(key, default)
    if value is None:
        raise ValueError(f"{where}: `{key}` is required (a non-empty string)")
    if not isinstance(value, str) or (key in data and not value.strip()):
        raise ValueError(f"{where}: `{key}` must be a non-empty string, not {value!r}")
    return value


def _choice(kind: type[_Choice], key: str, value: object, where: str) -> _Choice:
    if isinstance(value, str) and value in {member.value for member in kind}:
        return kind(value)
    valid = ", ".join(member.value for member in kind)
    raise ValueError(f"{where}: `{key}` {value!r} is not one of {valid}")


def _check_pattern(pattern: str, where: str) -> None:
    """Reject what would break when all patterns are combined into one expression."""
    try:
        compiled = re.compile(pattern)
        re.compile(f"x|(?:{pattern})")
    except re.error as error:
        raise ValueError(
            f"{where}: `name` is not a usable regular expression ({error}); "
            "inline flags must be scoped, like (?i:...)"
        ) from None
    if compiled.groupindex or _GROUP_REFERENCE.search(pattern):
        raise ValueError(
            f"{where}: `name` uses named groups or group references; "
            "write the pattern with plain or (?:...) groups"
        )


def load_rule_files(directory: Path) -> list[CookieRule]:
    """Every built-in rule in ``directory/*.toml``, files in name order, rules in file order.

    Built-in vendors must name the documentation their entries were written from.
    """
    if not directory.is_dir():
        raise ValueError(f"{directory}: no such rules directory")
    rules: list[CookieRule] = []
    for path in sorted(directory.glob("*.toml")):
        origin = f"{BUILTIN_ORIGIN}{path.name}"
        rules.extend(_rules_of_file(_read_rules(path), origin, builtin=True))
    return rules


def load_site_rule_file(path: Path) -> list[CookieRule]:
    """A site's own rules file of the same ``[[vendor]]`` form (``docs`` optional there),
    such as the one ``consent-gateway rules import-ocd`` writes; its rules may carry
    ``override = true``. A top-level ``declare = "when-seen"`` (which the importer writes)
    lists its rules in the declaration only once the site was seen to use them."""
    data = _read_rules(path)
    declare = data.get("declare", "always")
    if declare not in _DECLARE:
        raise ValueError(f"{path}: `declare` must be one of {', '.join(_DECLARE)}, not {declare!r}")
    rules = _rules_of_file(
        {k: v for k, v in data.items() if k != "declare"}, str(path), builtin=False
    )
    if declare == "always":
        return rules
    return [replace(rule, when_seen=True) for rule in rules]


def _read_rules(path: Path) -> Mapping[str, object]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such rules file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid TOML ({error})") from None


def _rules_of_file(data: Mapping[str, object], origin: str, *, builtin: bool) -> list[CookieRule]:
    extra = sorted(set(data) - {"vendor"})
    vendors = data.get("vendor", [])
    if extra or not isinstance(vendors, list):
        raise ValueError(f"{origin}: a rules file holds only [[vendor]] tables")
    rules: list[CookieRule] = []
    for number, vendor in enumerate(vendors, start=1):
        where = f"{origin}: vendor #{number}"
        if not isinstance(vendor, dict):
            raise ValueError(f"{where} is not a table")
        name, docs, cookies = vendor.get("name"), vendor.get("docs"), vendor.get("cookies")
        unknown = sorted(set(vendor) - _VENDOR_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; expected {sorted(_VENDOR_KEYS)}")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where}: `name` must be a non-empty string")
        if (builtin or docs is not None) and (not isinstance(docs, str) or not docs.strip()):
            raise ValueError(f"{origin}: vendor {name!r}: `docs` must be the address of its docs")
        if not isinstance(cookies, list) or not all(isinstance(c, dict) for c in cookies):
            raise ValueError(f"{origin}: vendor {name!r}: `cookies` must be a list of tables")
        override = None if builtin else False  # built-in rules cannot carry the key
        rules.extend(
            CookieRule.from_mapping(
                cookie, vendor=name, docs=docs, origin=origin, override=override
            )
            for cookie in cookies
        )
    return rules


class _RuleSet:
    """One precedence level compiled for look-ups: exact dict, prefix dict, one regex."""

    def __init__(self, rules: Sequence[CookieRule]) -> None:
        first_party = [rule for rule in rules if rule.domain is None]
        self.exact: dict[str, CookieRule] = {}
        self.prefixes: dict[str, CookieRule] = {}
        patterns: list[CookieRule] = []
        for rule in first_party:
            if rule.match is MatchKind.EXACT:
                self.exact.setdefault(rule.name, rule)
            elif rule.match is MatchKind.PREFIX:
                self.prefixes.setdefault(rule.name, rule)
            else:
                patterns.append(rule)
        # Only the lengths that occur among prefixes starting with the name's first
        # character are probed, longest first.
        lengths: dict[str, set[int]] = {}
        for prefix in self.prefixes:
            lengths.setdefault(prefix[0], set()).add(len(prefix))
        self.prefix_lengths = {
            first: tuple(sorted(sizes, reverse=True)) for first, sizes in lengths.items()
        }
        # One alternation, each pattern in its own outer group, in file order: the regex
        # engine tries them in order and ``lastindex`` names the outer group that matched.
        self.pattern_rules: dict[int, CookieRule] = {}
        group = 1
        for rule in patterns:
            self.pattern_rules[group] = rule
            group += 1 + re.compile(rule.name).groups
        self.pattern = (
            re.compile("|".join(f"({rule.name})" for rule in patterns)) if patterns else None
        )

    def find(self, name: str, unprefixed: str | None) -> CookieRule | None:
        """The rule for ``name``, or else for ``unprefixed``, its ``__Host-``/``__Secure-``
        less form (``None`` when it has no such prefix)."""
        rule = self._find(name)
        if rule is None and unprefixed is not None:
            rule = self._find(unprefixed)
        return rule

    def _find(self, name: str) -> CookieRule | None:
        rule = self.exact.get(name)
        if rule is not None:
            return rule
        lengths = self.prefix_lengths.get(name[:1])
        if lengths is not None:
            # ``name[:n]`` longer than the name is the name itself, still a true prefix.
            for length in lengths:
                rule = self.prefixes.get(name[:length])
                if rule is not None:
                    return rule
        if self.pattern is not None:
            found = self.pattern.fullmatch(name)
            if found is not None and found.lastindex is not None:
                return self.pattern_rules[found.lastindex]
        return None


MEMO_BYTES = 1024 * 1024  # of names remembered
MEMO_NAME_BYTES = 256  # a longer name (sent by a client, not set by a site) is not remembered


class Classifier:
    """Cookie name -> the rule that classifies it, memoised: a site's names repeat endlessly."""

    def __init__(
        self,
        builtin: Sequence[CookieRule],
        site: Sequence[CookieRule] = (),
        cache_size: int = 4096,
    ) -> None:
        self.memo: Memo[str, CookieRule | None] = Memo(
            "cookie_rules", cache_size, MEMO_BYTES, MEMO_NAME_BYTES
        )
        self.replace(builtin, site)

    def replace(self, builtin: Sequence[CookieRule], site: Sequence[CookieRule] = ()) -> None:
        """Classify by these rules from now on (rules read again); the memo is cleared."""
        self.rules: tuple[CookieRule, ...] = (*site, *builtin)
        self._site, self._builtin = _RuleSet(site), _RuleSet(builtin)
        self.memo.clear()

    def adopt(self, other: Classifier) -> None:
        """Classify by ``other``'s rules from now on (compiled elsewhere, off the event
        loop); this memo, cleared, stays the one the metrics count."""
        self.rules, self._site, self._builtin = other.rules, other._site, other._builtin
        self.memo.clear()

    @classmethod
    def default(cls, site: Sequence[CookieRule] = ()) -> Classifier:
        """The built-in database with the site's own rules in front."""
        return cls(load_rule_files(rules_dir() / "cookies"), site)

    def classify(self, name: str) -> CookieRule | None:
        """The rule for cookie ``name``, or ``None`` when no rule knows it."""
        memo = self.memo
        try:
            found = memo.table[name]
        except KeyError:
            return memo.put(name, self._find(name), len(name))
        memo.hits += 1
        return found

    def _find(self, name: str) -> CookieRule | None:
        unprefixed = _without_cookie_prefix(name)
        site = self._site.find(name, unprefixed)
        if site is None or site.override:
            return site or self._builtin.find(name, unprefixed)
        builtin = self._builtin.find(name, unprefixed)
        return builtin if _keeps_essential(builtin, site) else site

    def elsewhere(self, name: str) -> list[CookieRule]:
        """The rules of cookies named ``name`` that vendors set on their own domain."""
        unprefixed = _without_cookie_prefix(name)
        return [
            rule
            for rule in self.rules
            if rule.domain is not None
            and (rule.matches(name) or (unprefixed is not None and rule.matches(unprefixed)))
        ]

    def essential_conflicts(self) -> list[tuple[CookieRule, CookieRule]]:
        """``(site rule, built-in essential rule)`` for each site rule that matches a name
        a built-in rule calls essential and would make it non-essential; the built-in rule
        wins unless the site rule says ``override = true``.

        The names tried are those of the built-in exact and prefix rules: a built-in
        pattern cannot be enumerated, though ``classify`` protects what it matches too.
        """
        found: dict[CookieRule, CookieRule] = {}
        for name in [*self._builtin.exact, *self._builtin.prefixes]:
            unprefixed = _without_cookie_prefix(name)
            site = self._site.find(name, unprefixed)
            builtin = self._builtin.find(name, unprefixed)
            if site is not None and builtin is not None and _keeps_essential(builtin, site):
                found.setdefault(site, builtin)
        return list(found.items())


def _keeps_essential(builtin: CookieRule | None, site: CookieRule) -> bool:
    """Whether the built-in rule must win over a site rule that does not say ``override``."""
    return (
        builtin is not None
        and builtin.category is Category.ESSENTIAL
        and site.category is not Category.ESSENTIAL
    )


def _without_cookie_prefix(name: str) -> str | None:
    """``name`` without a ``__Host-`` or ``__Secure-`` prefix (any case), if it has one."""
    if name[:2] != "__":
        return None
    if name[:7].lower() == _HOST_PREFIX:
        return name[7:]
    if name[:9].lower() == _SECURE_PREFIX:
        return name[9:]
    return None
