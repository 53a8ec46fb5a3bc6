"""IAB TCF: the TC string a registered CMP keeps in the ``euconsent-v2`` cookie.

The string is decoded by ``gateway.consent.tcf`` (every field checked; a malformed, cut or
TCF 2.3-invalid string raises ``TCStringError``, a ``ValueError``: no consent) and its
purposes are mapped onto categories by the table in ``rules/tcf.toml``. The string read is
carried on the consent state (``tc_string_at``), for the providers that pass it on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.consent.adapters.base import AdapterConfig
from gateway.consent.state import Category, Source
from gateway.consent.tcf import decode_tc_string, tcf_categories


def tc_grants(value: str | None) -> frozenset[Category] | None:
    """The categories a TC string cookie's value grants; ``None`` when it is absent or
    blank, ``TCStringError`` when it does not read. Didomi's adapter reads one too."""
    if value is None or not value.strip():
        return None
    granted = tcf_categories(decode_tc_string(value.strip()))
    return frozenset({Category.ESSENTIAL, *map(Category, granted)})


@dataclass(frozen=True, slots=True)
class TCFAdapter:
    source: Source
    cookie_names: tuple[str, ...]
    tc_string_at: int = 0  # the TC string it reads, passed on to GA4 as ``gdpr_consent``

    def read(self, values: Sequence[str | None]) -> frozenset[Category] | None:
        return tc_grants(values[0])


def adapter(settings: AdapterConfig) -> TCFAdapter:
    """The TCF adapter: the cookie of ``settings``, the purposes table of rules/tcf.toml."""
    return TCFAdapter(Source.TCF, (settings.cookie,))
