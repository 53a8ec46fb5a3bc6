"""What every consent adapter shares: its configuration, the contract it keeps, and the rule
that turns a CMP's own categories into the gateway's four.

An adapter is a small pure object: ``cookie_names`` are the cookies it reads (never writes),
``read`` gets their values (``None`` for a cookie the browser did not send) and answers

- ``None``: the CMP stored no choice (no cookie, or one that says no choice is needed yet):
  the regime's default applies;
- a ``frozenset[Category]``: the visitor's choice (essential always in);
- ``ValueError`` (or a subclass, such as the TCF decoder's ``TCStringError``): the cookie is
  there but does not read. The gateway counts it and treats it as no consent, never a crash.

An adapter that reads an IAB TC string may say which of its cookies holds it with an
``int`` attribute ``tc_string_at`` (an index into ``cookie_names``): the consent state then
carries the string, and GA4 hits pass it on as ``gdpr_consent``.

``ConsentSource`` (``gateway.consent.adapters``) remembers each answer by the cookie values,
so ``read`` runs once per distinct value.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Protocol
from urllib.parse import unquote

from gateway.consent.state import OPTIONAL_CATEGORIES, Category, Source
from gateway.json_input import parse_json
from gateway.resources import rules_dir

# The longest CMP cookie value read: a browser keeps at most 4,096 bytes per cookie.
MAX_VALUE_LENGTH = 4096


class Adapter(Protocol):
    """One CMP's stored choice, read from its cookies."""

    @property
    def source(self) -> Source:
        """What ``ConsentState.source`` says when this adapter's choice applies."""
        ...

    @property
    def cookie_names(self) -> tuple[str, ...]:
        """The cookies ``read`` needs, in the order of its ``values``."""
        ...

    def read(self, values: Sequence[str | None]) -> frozenset[Category] | None:
        """The choice in ``values`` (one per ``cookie_names``), ``None`` for no choice;
        ``ValueError`` when a cookie is there and does not read."""
        ...


@dataclass(frozen=True, slots=True)
class SiteTable:
    """What a site's ``[consent_adapters.<name>]`` table changes: ``None`` or empty, nothing."""

    cookie: str | None = None
    categories: Mapping[str, Category] = field(default_factory=dict)
    tc_cookie: str | None = None


@dataclass(frozen=True, slots=True)
class AdapterConfig:
    """How one adapter is set up: its cookie (a name, or Complianz's prefix), the CMP's keys
    by category, and for a CMP that also writes a TC string (Didomi) that string's cookie.
    ``config(name)`` gives the built-in one from ``rules/cmp.toml``; ``with_site`` merges
    the site's settings over it."""

    cookie: str
    categories: Mapping[str, Category] = field(default_factory=dict)
    tc_cookie: str | None = None

    def with_site(self, site: SiteTable) -> AdapterConfig:
        """This configuration with the site's cookie names and category mapping over it."""
        merged = {**self.categories, **site.categories}
        tc_cookie = site.tc_cookie or self.tc_cookie
        return AdapterConfig(site.cookie or self.cookie, merged, tc_cookie)


@cache
def builtin_rules() -> dict[str, AdapterConfig]:
    """``rules/cmp.toml``: each adapter's default cookies and category mapping."""
    with (rules_dir() / "cmp.toml").open("rb") as handle:
        data = tomllib.load(handle)
    return {
        name: AdapterConfig(
            str(table["cookie"]),
            {key: Category(value) for key, value in table.get("categories", {}).items()},
            table.get("tc_cookie"),
        )
        for name, table in data.items()
    }


def config(name: str) -> AdapterConfig:
    """The built-in configuration of adapter ``name`` (``rules/cmp.toml``); an adapter the
    file does not list reads a cookie of its own name and has no mapping."""
    return builtin_rules().get(name, AdapterConfig(name))


def grants(choices: Mapping[str, bool], mapping: Mapping[str, Category]) -> frozenset[Category]:
    """The gateway's categories for a CMP's ``{key: granted}``: a category is granted when
    ``choices`` names at least one key mapped to it and grants every one it names (a key
    mapped to nothing, or to essential, changes nothing)."""
    granted = {Category.ESSENTIAL}
    for category in OPTIONAL_CATEGORIES:
        named = [on for key, on in choices.items() if mapping.get(key) is category]
        if named and all(named):
            granted.add(category)
    return frozenset(granted)


def cookie_text(value: str) -> str:
    """A cookie value as the CMP wrote it before percent-encoding it; ``ValueError`` for a
    value longer than any browser stores."""
    if len(value) > MAX_VALUE_LENGTH:
        raise ValueError("longer than a cookie can be")
    return unquote(value, errors="strict") if "%" in value else value


@dataclass(frozen=True, slots=True)
class OneCookie:
    """An adapter whose CMP keeps its choice in one cookie: ``parse`` turns the cookie's
    value into ``{key: granted}`` (``None``: no choice stored), the mapping does the rest."""

    source: Source
    cookie_names: tuple[str, ...]
    categories: Mapping[str, Category]
    parse: Callable[[str], Mapping[str, bool] | None]

    def read(self, values: Sequence[str | None]) -> frozenset[Category] | None:
        value = values[0]
        if value is None:
            return None
        choices = self.parse(value)
        return None if choices is None else grants(choices, self.categories)


def one_cookie(
    source: Source, settings: AdapterConfig, parse: Callable[[str], Mapping[str, bool] | None]
) -> OneCookie:
    """A one-cookie adapter read with ``parse``."""
    return OneCookie(source, (settings.cookie,), settings.categories, parse)


def json_booleans(value: str) -> dict[str, bool]:
    """A (percent-encoded) JSON object of booleans, ``{"name": true, ...}``."""
    document = parse_json(cookie_text(value), max_depth=1)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    for name, on in document.items():
        if not isinstance(on, bool):
            raise ValueError(f"{name}: expected true or false")
    return document
