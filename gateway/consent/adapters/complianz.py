"""Complianz's ``cmplz_<category>`` cookies (https://complianz.io/cookies-from-complianz-what-
are-they-for-and-how-you-use-them/).

One cookie per category, ``allow`` or ``deny``: ``cmplz_functional``, ``cmplz_preferences``,
``cmplz_statistics``, ``cmplz_marketing``. The adapter's ``cookie`` is their prefix
(``cmplz_``; Complianz lets a multisite change it), and the categories are the keys of its
mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.consent.adapters.base import MAX_VALUE_LENGTH, AdapterConfig, grants
from gateway.consent.state import Category, Source


@dataclass(frozen=True, slots=True)
class Complianz:
    """Reads one cookie per mapped category."""

    cookie_names: tuple[str, ...]
    keys: tuple[str, ...]
    categories: Mapping[str, Category]
    source: Source = Source.COMPLIANZ

    def read(self, values: Sequence[str | None]) -> frozenset[Category] | None:
        choices: dict[str, bool] = {}
        for key, value in zip(self.keys, values, strict=True):
            if value is None:
                continue
            flag = value.strip()
            if len(flag) > MAX_VALUE_LENGTH or flag not in ("allow", "deny"):
                raise ValueError(f"{key}: expected allow or deny")
            choices[key] = flag == "allow"
        # Only the always-on functional cookie: no choice yet.
        if not any(self.categories.get(key) is not Category.ESSENTIAL for key in choices):
            return None
        return grants(choices, self.categories)


def adapter(settings: AdapterConfig) -> Complianz:
    """The Complianz adapter."""
    keys = tuple(settings.categories)
    names = tuple(settings.cookie + key for key in keys)
    return Complianz(names, keys, settings.categories)
