"""What every consent adapter shares: its configuration, the contract it keeps, and the rule
that turns a CMP's own categories into the gateway's four.

An adapter is a small pure object: ``cookie_names`` are the cookies it reads (never writes),
``read`` gets their values (``None`` for a cookie the browser did not send) and answers

- ``None``: the CMP stored no choice (no cookie, or one that says no choice is needed yet):
  the regime's default applies;
- a ``frozenset[Category]``: the visitor's choice (essential always in);
- ``ValueError`` (or a subclass, such as the TCF decoder's ``TCStringError``): the cookie is
  there but does not read. The gateway counts it and treats it as no consent, never a crash.

An adapter that reads an IAB TC string also keeps ``ReadsTCString``: the consent state then
carries the string, and GA4 hits pass it on as ``gdpr_consent``.

``ConsentSource`` (``gateway.consent.adapters``) remembers each answer by the cookie values,
so ``read`` runs once per distinct value.

The rules files (``rules/cmp.toml``, and ``rules/tcf.toml`` and ``rules/gpp.toml`` for the
adapters they map) are read by ``load_configs`` each time it is called, never remembered: a
running gateway reads them again with its other rules (``gateway.ruleset``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import unquote

from gateway.consent.gpp import GppMapping
from gateway.consent.state import OPTIONAL_CATEGORIES, Category, Source
from gateway.consent.tcf import load_tcf_table
from gateway.json_input import parse_json
from gateway.resources import rules_dir

# The longest CMP cookie value read: a browser keeps at most 4,096 bytes per cookie.
MAX_VALUE_LENGTH = 4096
# The adapters that map a CMP's choice by a rules file of their own, beside rules/cmp.toml
# (Didomi's TC string maps by the TCF table too).
MAPPING_FILES = {"tcf": "tcf.toml", "didomi": "tcf.toml", "gpp": "gpp.toml"}


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


@runtime_checkable
class ReadsTCString(Protocol):
    """An adapter that reads an IAB TC string among its cookies (``tcf``, ``didomi``)."""

    def tc_string(
        self, values: Sequence[str | None], granted: frozenset[Category]
    ) -> tuple[str, frozenset[Category]] | None:
        """The TC string in ``values`` (as for ``read``) and what it alone grants, or
        ``None`` without one; called only with what ``read`` granted for ``values``."""
        ...


@dataclass(frozen=True, slots=True)
class SiteTable:
    """What a site's ``[consent_adapters.<name>]`` table changes: ``None`` or empty, nothing."""

    cookie: str | None = None
    categories: Mapping[str, Category] = field(default_factory=dict)
    tc_cookie: str | None = None
    purposes: Mapping[str, frozenset[int]] = field(default_factory=dict)
    refused_by: Mapping[Category, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AdapterConfig:
    """How one adapter is set up: its cookie (a name, or Complianz's prefix) and the CMP's
    keys by category; for a CMP that also writes a TC string (Didomi) that string's cookie
    (``tc_cookie``); for TC strings the purposes each category needs (``purposes``), for GPP
    the opt-outs that refuse each (``opt_outs``). ``config(name)`` gives the built-in one
    from the rules files; ``with_site`` merges the site's settings over it."""

    cookie: str
    categories: Mapping[str, Category] = field(default_factory=dict)
    tc_cookie: str | None = None
    purposes: Mapping[str, frozenset[int]] | None = None
    opt_outs: GppMapping | None = None

    def with_site(self, site: SiteTable) -> AdapterConfig:
        """This configuration with the site's cookie names, category mapping, (TCF)
        purposes and (GPP) opt-outs by category over it: a category the site lists takes
        its list."""
        purposes = self.purposes
        if site.purposes:
            purposes = {**(purposes or {}), **site.purposes}
        opt_outs = self.opt_outs
        if opt_outs is not None:
            opt_outs = opt_outs.with_site(site.refused_by)
        return replace(
            self,
            cookie=site.cookie or self.cookie,
            categories={**self.categories, **site.categories},
            tc_cookie=site.tc_cookie or self.tc_cookie,
            purposes=purposes,
            opt_outs=opt_outs,
        )


def rule_paths(names: Iterable[str]) -> list[Path]:
    """The rules files the adapters ``names`` are set up from: what ``load_configs`` reads."""
    base = rules_dir()
    files = dict.fromkeys(MAPPING_FILES[name] for name in names if name in MAPPING_FILES)
    return [base / "cmp.toml", *(base / file for file in files)]


def builtin_rules(path: Path | None = None) -> dict[str, AdapterConfig]:
    """``rules/cmp.toml`` (or ``path``): each adapter's default cookie and category mapping;
    ``ValueError`` names the file and the problem."""
    path = path or rules_dir() / "cmp.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"{path}: cannot read the CMP rules ({error})") from None
    configs = {}
    for name, table in data.items():
        cookie = table.get("cookie") if isinstance(table, dict) else None
        categories = table.get("categories", {}) if isinstance(table, dict) else None
        if not isinstance(cookie, str) or not cookie or not isinstance(categories, dict):
            raise ValueError(f"{path}: [{name}] needs a cookie name and a categories table")
        try:
            mapping = {str(key): Category(value) for key, value in categories.items()}
        except ValueError:
            raise ValueError(
                f"{path}: [{name}.categories] maps onto a category that is not one of "
                f"{', '.join(Category)}"
            ) from None
        tc_cookie = table.get("tc_cookie")
        if tc_cookie is not None and (not isinstance(tc_cookie, str) or not tc_cookie):
            raise ValueError(f"{path}: [{name}] tc_cookie must be a cookie name")
        configs[name] = AdapterConfig(cookie, mapping, tc_cookie)
    return configs


def load_configs(names: Iterable[str]) -> dict[str, AdapterConfig]:
    """The built-in configuration of each adapter of ``names``, from the rules files as they
    are now (``rule_paths``); ``ValueError`` names a file that does not read. An adapter
    ``rules/cmp.toml`` does not list reads a cookie of its own name and has no mapping."""
    names = list(names)
    builtin = builtin_rules()
    configs = {name: builtin.get(name, AdapterConfig(name)) for name in names}
    for name in ("tcf", "didomi"):
        if name in configs:
            configs[name] = replace(configs[name], purposes=load_tcf_table())
    if "gpp" in configs:
        configs["gpp"] = replace(configs["gpp"], opt_outs=GppMapping.load())
    return configs


def config(name: str) -> AdapterConfig:
    """The built-in configuration of adapter ``name``, read from the rules files now."""
    return load_configs([name])[name]


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
