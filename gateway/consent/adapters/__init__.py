"""Consent sources: the choice a site's own CMP already stored, read from its cookies.

``ADAPTERS`` names every adapter the ``consent_source`` setting accepts, each a module here
with ``adapter(config: AdapterConfig) -> Adapter`` (the contract is in ``base``). Adding
one is a module and a line below. ``ConsentSource`` reads the adapters a site chose, with
their answers remembered by cookie values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from gateway.consent.adapters import (
    complianz,
    cookiebot,
    cookieconsent,
    cookieyes,
    gpp,
    klaro,
    onetrust,
    osano,
    tcf,
    usercentrics,
)
from gateway.consent.adapters.base import Adapter, AdapterConfig, load_configs
from gateway.consent.state import Category, Source
from gateway.memo import Memo

ADAPTERS: dict[str, Callable[[AdapterConfig], Adapter]] = {
    "cookiebot": cookiebot.adapter,
    "onetrust": onetrust.adapter,
    "cookieyes": cookieyes.adapter,
    "complianz": complianz.adapter,
    "klaro": klaro.adapter,
    "cookieconsent": cookieconsent.adapter,
    "osano": osano.adapter,
    "usercentrics": usercentrics.adapter,
    "tcf": tcf.adapter,
    "gpp": gpp.adapter,
}
CHOICES_SIZE = 10_000
CHOICES_BYTES = 4 * 1024 * 1024
# Cookies with more bytes than this are read every time (a browser stores 4 KiB a cookie).
CHOICES_MAX_KEY = 16 * 1024


@dataclass(frozen=True, slots=True)
class Reading:
    """What the CMPs' cookies say: the granted categories and which adapter's choice they
    are (``None``, ``None``: no choice stored), and whether a cookie did not read."""

    granted: frozenset[Category] | None
    source: Source | None
    invalid: bool


NO_CHOICE = Reading(None, None, False)


def build(
    names: Iterable[str],
    site: Mapping[str, tuple[str | None, Mapping[str, Category]]],
    *,
    tcf_purposes: Mapping[str, frozenset[int]] | None = None,
) -> ConsentSource:
    """The adapters ``names``, each with its built-in configuration (the rules files, read
    now: ``ValueError`` names one that does not read) and the site's ``(cookie,
    categories)`` over it, and for TCF the site's purposes by category; ``KeyError`` for a
    name no adapter has. A new source remembers nothing: its answers follow these rules."""
    names = list(names)
    configs = load_configs(names)
    adapters = []
    for name in names:
        cookie, categories = site.get(name, (None, {}))
        purposes = tcf_purposes if name == "tcf" else None
        adapters.append(ADAPTERS[name](configs[name].with_site(cookie, categories, purposes)))
    return ConsentSource(adapters)


class ConsentSource:
    """Reads the choice from the adapters' cookies. Several adapters that each found a
    choice give what all of them grant (the one granting least names the source); a cookie
    that does not read is no choice, counted as invalid when no adapter found one."""

    def __init__(self, adapters: Sequence[Adapter]) -> None:
        self.adapters = tuple(adapters)
        names: dict[str, None] = {}
        for adapter in self.adapters:
            names.update(dict.fromkeys(adapter.cookie_names))
        # The cookies read, in a fixed order: ``values`` gives one value (or None) each.
        self.cookie_names = tuple(names)
        self._index = {name: i for i, name in enumerate(self.cookie_names)}
        self._positions = [
            tuple(self._index[name] for name in adapter.cookie_names) for adapter in self.adapters
        ]
        self.choices: Memo[tuple[str | None, ...], Reading] = Memo(
            "cmp_choices", CHOICES_SIZE, CHOICES_BYTES, CHOICES_MAX_KEY
        )

    def values(self, pairs: Iterable[tuple[str, str]]) -> tuple[str | None, ...]:
        """The value of each cookie in ``cookie_names`` among the request's ``(name,
        value)`` pairs, the first of a name sent twice (the browser sends the cookie of the
        longest path first), ``None`` for one not sent."""
        found: list[str | None] = [None] * len(self.cookie_names)
        index = self._index
        for name, value in pairs:
            i = index.get(name)
            if i is not None and found[i] is None:
                found[i] = value
        return tuple(found)

    def read(self, values: tuple[str | None, ...]) -> Reading:
        """The choice in ``values`` (from ``values()``), remembered by them."""
        reading = self.choices.table.get(values)
        if reading is not None:
            self.choices.hits += 1
            return reading
        reading = self._read(values)
        size = sum(len(value) for value in values if value is not None)
        return self.choices.put(values, reading, size)

    def _read(self, values: tuple[str | None, ...]) -> Reading:
        found: list[tuple[frozenset[Category], Source]] = []
        invalid = False
        for adapter, positions in zip(self.adapters, self._positions, strict=True):
            own = [values[i] for i in positions]
            if all(value is None for value in own):
                continue
            try:
                granted = adapter.read(own)
            except ValueError:
                invalid = True
                continue
            if granted is not None:
                found.append((granted, adapter.source))
        if not found:
            return Reading(None, None, invalid)
        least = min(found, key=lambda item: len(item[0]))
        granted = frozenset.intersection(*(item[0] for item in found))
        return Reading(granted, least[1], False)
