"""IAB TCF: the TC string a registered CMP keeps in the ``euconsent-v2`` cookie.

The string is decoded by ``gateway.consent.tcf`` (every field checked; a malformed, cut or
TCF 2.3-invalid string raises ``TCStringError``, a ``ValueError``: no consent) and its
purposes are mapped onto categories by the table in ``rules/tcf.toml``, with the site's
``[consent_adapters.tcf] purposes`` over it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.consent.adapters.base import AdapterConfig
from gateway.consent.state import Category, Source
from gateway.consent.tcf import decode_tc_string, load_tcf_table, tcf_categories


@dataclass(frozen=True, slots=True)
class TCFAdapter:
    source: Source
    cookie_names: tuple[str, ...]
    purposes: Mapping[str, frozenset[int]]

    def read(self, values: Sequence[str | None]) -> frozenset[Category] | None:
        value = values[0]
        if value is None or not value.strip():
            return None
        granted = tcf_categories(decode_tc_string(value.strip()), self.purposes)
        return frozenset({Category.ESSENTIAL, *map(Category, granted)})


def adapter(settings: AdapterConfig) -> TCFAdapter:
    """The TCF adapter: the cookie and purposes table of ``settings`` (unset: the table
    of rules/tcf.toml, read now)."""
    purposes = settings.purposes if settings.purposes is not None else load_tcf_table()
    return TCFAdapter(Source.TCF, (settings.cookie,), purposes)
