"""IAB GPP: the ``__gpp`` cookie a CMP writes for US privacy choices.

The string is decoded by ``gateway.consent.gpp`` (malformed: ``GppError``, a ``ValueError``:
no consent); its ``usnat`` and ``uspv1`` opt-outs refuse categories as ``rules/gpp.toml``
says. A string with neither section stores no choice the gateway reads: the regime's default
applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.consent.adapters.base import AdapterConfig
from gateway.consent.gpp import GppMapping, decode_gpp, gpp_categories
from gateway.consent.state import Category, Source


@dataclass(frozen=True, slots=True)
class GppAdapter:
    source: Source
    cookie_names: tuple[str, ...]
    mapping: GppMapping

    def read(self, values: Sequence[str | None]) -> frozenset[Category] | None:
        value = values[0]
        if value is None or not value.strip():
            return None
        return gpp_categories(decode_gpp(value.strip()), self.mapping)


def adapter(settings: AdapterConfig) -> GppAdapter:
    """The GPP adapter: the cookie and opt-outs mapping of ``settings`` (unset: the mapping
    of rules/gpp.toml, read now)."""
    mapping = settings.opt_outs if settings.opt_outs is not None else GppMapping.load()
    return GppAdapter(Source.GPP, (settings.cookie,), mapping)
