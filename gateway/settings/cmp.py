"""The ``consent_source`` setting's adapter tables: ``[consent_adapters.<name>]``.

Each adapter reads a CMP's cookie with the cookie name and category mapping of
``rules/cmp.toml``; a table here changes either for one site.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.consent.adapters import ADAPTERS
from gateway.consent.gpp import check_refused_by
from gateway.consent.state import Category
from gateway.consent.tcf import check_tcf_table

GATEWAY = "gateway"
_COOKIE_NAME = r"^[A-Za-z0-9_.\-]{1,128}$"


class AdapterSettings(BaseModel):
    """One adapter's table: its cookie and how the CMP's categories map onto the gateway's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cookie: str | None = Field(
        None,
        pattern=_COOKIE_NAME,
        description="The name of the CMP's cookie, when the site renamed it (Complianz: the "
        "prefix of its `cmplz_` cookies). Unset: the CMP's default name "
        "(`rules/cmp.toml`).",
    )
    tc_cookie: str | None = Field(
        None,
        pattern=_COOKIE_NAME,
        description="Didomi only: the name of the cookie holding the IAB TC string Didomi "
        "writes beside its own, when the site renamed it. Unset: `euconsent-v2`.",
    )
    categories: dict[str, Category] = Field(
        default_factory=dict,
        description="The CMP's own categories (Cookiebot's and CookieYes's category names, "
        "OneTrust's group ids, Klaro's service names, cookieconsent's category names, "
        "Osano's categories, Usercentrics' category slugs, Didomi's purpose ids) mapped onto "
        "the gateway's: "
        '`{C0007 = "marketing"}`, merged over the defaults of `rules/cmp.toml`. A category is '
        "granted when the cookie names at least one key mapped to it and grants every one it "
        "names.",
    )
    purposes: dict[str, frozenset[int]] = Field(
        default_factory=dict,
        description="`tcf` and `didomi` only: the purposes (ids 1 to 24) that must all have "
        "the visitor's consent in the TC string for a category to be granted, "
        "`{ analytics = [1, 8], marketing = [1, 2, 3, 4] }`. A category listed here takes "
        "this list instead of the one in `rules/tcf.toml`; the others keep the file's. See "
        "[IAB TCF](cmp/tcf.md#your-own-table).",
    )

    refused_by: dict[Category, frozenset[str]] = Field(
        default_factory=dict,
        description="`gpp` only: the opt-outs (`sale`, `sharing`, `targeted_advertising`, "
        "`sensitive_data`, `gpc`) that refuse each category, "
        '`{ analytics = ["sale", "sharing"] }`. A category listed here takes this list '
        "instead of the one in `rules/gpp.toml`; the others keep the file's. See "
        "[IAB GPP](cmp/gpp.md#from-opt-outs-to-categories).",
    )

    @field_validator("refused_by", mode="before")
    @classmethod
    def _gpp_table(cls, value: object) -> object:
        """Checked as rules/gpp.toml is: optional categories, each a list of opt-outs."""
        if not isinstance(value, dict):
            return value
        return check_refused_by(value, "refused_by")

    @field_validator("purposes", mode="before")
    @classmethod
    def _tcf_table(cls, value: object) -> object:
        """Checked as the TCF table is: known optional categories, each a non-empty list of
        purpose ids from 1 to 24 (no strings or booleans turned into numbers)."""
        if not isinstance(value, dict):
            return value
        return check_tcf_table(value, "purposes")


def adapter_names(value: object) -> object:
    """``"cookiebot"`` or ``"cookiebot,onetrust"`` (the environment) as a list;
    ``"gateway"`` stays."""
    if isinstance(value, str) and value.strip() != GATEWAY:
        return [name.strip() for name in value.split(",") if name.strip()]
    return value


def known_adapters(value: str | list[str]) -> str | list[str]:
    """``"gateway"``, or adapters that exist, each once."""
    if isinstance(value, str):
        if value != GATEWAY:
            raise ValueError(f'expected "gateway" or a list of adapters: {", ".join(ADAPTERS)}')
        return value
    if not value:
        raise ValueError('name at least one adapter, or "gateway"')
    for name in value:
        if name not in ADAPTERS:
            raise ValueError(f"unknown adapter {name!r}; expected some of {', '.join(ADAPTERS)}")
    if len(set(value)) != len(value):
        raise ValueError("an adapter is named twice")
    return value
