"""Consent sources: the choice a site's own CMP already stored, read from its cookies.

``ADAPTERS`` names every adapter the ``consent_source`` setting accepts, each a module here
with ``adapter(config: AdapterConfig) -> Adapter`` (the contract is in ``base``). Adding
one is a module and a line below. ``ConsentSource`` reads the adapters a site chose, with
their answers remembered by cookie values.

An adapter that reads an IAB TC string says so with a ``tc_string`` method (``base.ReadsTCString``):
the reading then carries the string, while it says what is enforced, for the analytics
providers that pass it on (GA4's ``gdpr_consent``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from gateway.consent.adapters import (
    complianz,
    cookiebot,
    cookieconsent,
    cookieyes,
    didomi,
    gpp,
    klaro,
    onetrust,
    osano,
    tcf,
    usercentrics,
)
from gateway.consent.adapters.base import (
    Adapter,
    AdapterConfig,
    ReadsTCString,
    SiteTable,
    load_configs,
)
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
    "didomi": didomi.adapter,
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
    are (``None``, ``None``: no choice stored), whether a cookie did not read, and the TC
    string the choice was read from (``None`` unless it grants exactly what is enforced)."""

    granted: frozenset[Category] | None
    source: Source | None
    invalid: bool
    tc_string: str | None = None


NO_CHOICE = Reading(None, None, False)


def build(names: Iterable[str], site: Mapping[str, SiteTable]) -> ConsentSource:
    """The adapters ``names``, each with its built-in configuration (the rules files, read
    now: ``ValueError`` names one that does not read) and the site's table over it;
    ``KeyError`` for a name no adapter has. A new source remembers nothing: its answers
    follow these rules."""
    names = list(names)
    configs = load_configs(names)
    adapters = [
        ADAPTERS[name](configs[name].with_site(site.get(name, SiteTable()))) for name in names
    ]
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
        tc_strings: list[tuple[str, frozenset[Category]]] = []
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
                if isinstance(adapter, ReadsTCString):
                    read = adapter.tc_string(own, granted)
                    if read is not None:
                        tc_strings.append(read)
        if not found:
            return Reading(None, None, invalid)
        least = min(found, key=lambda item: len(item[0]))
        granted = frozenset.intersection(*(item[0] for item in found))
        # A TC string passed on must say what is enforced: none when another adapter's
        # choice (or Didomi's own token) narrowed it, or when two different strings were read.
        matching = {tc for tc, grants in tc_strings if grants == granted}
        tc_string = matching.pop() if len(matching) == 1 else None
        return Reading(granted, least[1], False, tc_string)
