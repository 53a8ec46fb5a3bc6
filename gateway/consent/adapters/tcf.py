"""IAB TCF: the TC string a registered CMP keeps in the ``euconsent-v2`` cookie.

The string is decoded by ``gateway.consent.tcf`` (every field checked; a malformed, cut or
TCF 2.3-invalid string raises ``TCStringError``, a ``ValueError``: no consent) and its
purposes are mapped onto categories by the table in ``rules/tcf.toml``, with the site's
``[consent_adapters.tcf] purposes`` over it. The string read is carried on the consent
state (``tc_string``), for the providers that pass it on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.consent.adapters.base import AdapterConfig
from gateway.consent.state import Category, Source
from gateway.consent.tcf import decode_tc_string, load_tcf_table, tcf_categories

Purposes = Mapping[str, frozenset[int]]


def tc_grants(value: str | None, purposes: Purposes) -> frozenset[Category] | None:
    """The categories a TC string cookie's value grants by the table ``purposes``; ``None``
    when it is absent or blank, ``TCStringError`` when it does not read. Didomi's adapter
    reads one too."""
    if value is None or not value.strip():
        return None
    granted = tcf_categories(decode_tc_string(value.strip()), purposes)
    return frozenset({Category.ESSENTIAL, *map(Category, granted)})


def tc_string(value: str | None, purposes: Purposes) -> tuple[str, frozenset[Category]] | None:
    """The TC string in a cookie's value and what it grants alone, ``None`` without one."""
    granted = tc_grants(value, purposes)
    return None if value is None or granted is None else (value.strip(), granted)


@dataclass(frozen=True, slots=True)
class TCFAdapter:
    source: Source
    cookie_names: tuple[str, ...]
    purposes: Purposes

    def read(self, values: Sequence[str | None]) -> frozenset[Category] | None:
        return tc_grants(values[0], self.purposes)

    def tc_string(
        self, values: Sequence[str | None], granted: frozenset[Category]
    ) -> tuple[str, frozenset[Category]] | None:
        """The TC string read, passed on to GA4 as ``gdpr_consent``: what it grants is what
        ``read`` found, so it is not decoded again."""
        value = values[0]
        return None if value is None or not value.strip() else (value.strip(), granted)


def adapter(settings: AdapterConfig) -> TCFAdapter:
    """The TCF adapter: the cookie and purposes table of ``settings`` (unset: the table
    of rules/tcf.toml, read now)."""
    purposes = settings.purposes if settings.purposes is not None else load_tcf_table()
    return TCFAdapter(Source.TCF, (settings.cookie,), purposes)
