"""Where the visitor is and what that means before a choice: country -> regime, GPC, defaults.

The country comes from a CDN header only when the site owner names one (a header nobody
overwrites would let any visitor pick their own law), else from a MaxMind-format database.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import maxminddb

from gateway.consent import ALL_GRANTED, ESSENTIAL_ONLY, Category, Regime, Source
from gateway.resources import rules_dir

_COUNTRY = re.compile(r"[A-Z]{2}")
_SUBDIVISION = re.compile(r"[A-Z0-9]{1,3}")
_NOT_A_COUNTRY = {"XX", "T1", "A1", "A2", "O1", "EU", "AP", "ZZ"}


class RegionTable:
    """Country and subdivision -> regime, from ``rules/regions.toml``."""

    def __init__(
        self,
        countries: Mapping[str, Regime],
        subdivisions: Mapping[str, Regime],
        subdivision_unknown: Mapping[str, Regime],
    ) -> None:
        self._countries = dict(countries)
        self._subdivisions = dict(subdivisions)
        self._subdivision_unknown = dict(subdivision_unknown)

    @classmethod
    def load(cls, path: Path | None = None) -> RegionTable:
        path = path or rules_dir() / "regions.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: cannot read the region table ({error})") from None
        countries: dict[str, Regime] = {}
        subdivisions: dict[str, Regime] = {}
        unknown: dict[str, Regime] = {}
        for key, table in data.items():
            if key == "subdivision_unknown":
                for country, regime in table.items():
                    unknown[_checked_country(path, country)] = _regime(path, key, regime)
                continue
            regime = _regime(path, key, key)
            for country in table.get("countries", []):
                countries[_checked_country(path, country)] = regime
            for code in table.get("subdivisions", []):
                country, _, sub = str(code).partition("-")
                if not _COUNTRY.fullmatch(country) or not _SUBDIVISION.fullmatch(sub):
                    raise ValueError(f"{path} [{key}]: {code!r} is not an ISO 3166-2 code")
                subdivisions[code] = regime
        return cls(countries, subdivisions, unknown)

    def regime_for(self, country: str | None, subdivision: str | None = None) -> Regime | None:
        """The regime, or None when the country is unknown (the caller's default applies)."""
        if not country:
            return None
        country = country.strip().upper()
        if not _COUNTRY.fullmatch(country) or country in _NOT_A_COUNTRY:
            return None
        if subdivision:
            code = subdivision.strip().upper()
            if not code.startswith(f"{country}-"):
                code = f"{country}-{code}"
            regime = self._subdivisions.get(code)
            if regime is not None:
                return regime
        elif country in self._subdivision_unknown:
            return self._subdivision_unknown[country]
        return self._countries.get(country, Regime.NOTICE)


def _regime(path: Path, key: str, value: object) -> Regime:
    try:
        return Regime(str(value))
    except ValueError:
        valid = ", ".join(r.value for r in Regime)
        raise ValueError(f"{path} [{key}]: {value!r} is not a regime ({valid})") from None


def _checked_country(path: Path, code: object) -> str:
    if not isinstance(code, str) or not _COUNTRY.fullmatch(code):
        raise ValueError(f"{path}: {code!r} is not an ISO 3166-1 alpha-2 country code")
    return code


class CountryResolver:
    """The visitor's country and subdivision from a trusted header or a GeoIP database."""

    def __init__(
        self,
        *,
        country_header: str | None = None,
        subdivision_header: str | None = None,
        geoip_database: Path | None = None,
    ) -> None:
        self._country_header = country_header.lower().encode() if country_header else None
        self._subdivision_header = (
            subdivision_header.lower().encode() if subdivision_header else None
        )
        self.header_names = tuple(
            h for h in (self._country_header, self._subdivision_header) if h is not None
        )
        self._reader: maxminddb.Reader | None = None
        if geoip_database is not None:
            try:
                self._reader = maxminddb.open_database(str(geoip_database))
            except (OSError, ValueError) as error:
                raise ValueError(f"cannot open GeoIP database {geoip_database}: {error}") from None
            self._lookup = lru_cache(maxsize=4096)(self._lookup_ip)

    def resolve(
        self, headers: Mapping[bytes, bytes], client_ip: str | None
    ) -> tuple[str | None, str | None]:
        if self._country_header is not None:
            country = _clean(headers.get(self._country_header), _COUNTRY)
            if country is not None and country not in _NOT_A_COUNTRY:
                subdivision = None
                if self._subdivision_header is not None:
                    raw = headers.get(self._subdivision_header)
                    if raw is not None and raw.upper().startswith(country.encode() + b"-"):
                        raw = raw[3:]
                    subdivision = _clean(raw, _SUBDIVISION)
                return country, subdivision
        if self._reader is not None and client_ip:
            return self._lookup(client_ip)
        return None, None

    def _lookup_ip(self, client_ip: str) -> tuple[str | None, str | None]:
        assert self._reader is not None
        try:
            record: Any = self._reader.get(ipaddress.ip_address(client_ip))
        except (ValueError, maxminddb.InvalidDatabaseError):
            return None, None
        if not isinstance(record, dict):
            return None, None
        country_record = record.get("country") or {}
        country = country_record.get("iso_code") if isinstance(country_record, dict) else None
        subdivisions = record.get("subdivisions") or []
        subdivision = None
        if isinstance(subdivisions, list) and subdivisions and isinstance(subdivisions[0], dict):
            subdivision = subdivisions[0].get("iso_code")
        return (
            country if isinstance(country, str) and _COUNTRY.fullmatch(country) else None,
            subdivision if isinstance(subdivision, str) else None,
        )


def _clean(raw: bytes | None, shape: re.Pattern[str]) -> str | None:
    if not raw:
        return None
    text = raw.decode("latin-1").strip().upper()
    return text if shape.fullmatch(text) else None


def gpc_enabled(value: bytes | None) -> bool:
    """Global Privacy Control: only ``Sec-GPC: 1`` counts."""
    return value is not None and value.strip() == b"1"


def default_grants(regime: Regime, gpc: bool) -> tuple[frozenset[Category], Source]:
    """Grants before a choice. GPC refuses marketing wherever it is sent: honouring the
    visitor's own signal costs nothing, and it is binding in several opt-out states."""
    if regime is Regime.OPT_IN:
        return ESSENTIAL_ONLY, Source.DEFAULT
    if gpc:
        return ALL_GRANTED - {Category.MARKETING}, Source.GPC
    return ALL_GRANTED, Source.DEFAULT
