"""Where the visitor is, and what that means before a choice: country -> regime, GPC, defaults.

The country comes from a CDN header only when the site owner names one: a header that no
proxy in front overwrites would let every visitor pick their own law. Otherwise a
MaxMind-format database maps the client IP. Which law applies where is data, in
``rules/regions.toml``.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

import maxminddb

from gateway.consent.state import ALL_GRANTED, ESSENTIAL_ONLY, Category, Regime, Source
from gateway.resources import rules_dir

_COUNTRY = re.compile(r"[A-Z]{2}")
_SUBDIVISION = re.compile(r"[A-Z0-9]{1,3}")
_ISO_3166_2 = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Codes that CDNs and GeoIP databases send when they do not know the country: "XX"
# (Cloudflare: unknown), "T1" (Cloudflare: Tor), MaxMind's legacy "A1" (anonymous proxy),
# "A2" (satellite), "O1" (other), "EU" and "AP" (continent only), "ZZ" (unknown region).
_NOT_A_COUNTRY = frozenset({"XX", "T1", "A1", "A2", "O1", "EU", "AP", "ZZ"})
_UNKNOWN_SUBDIVISION = "unknown-subdivision"
_LISTS = ("countries", "subdivisions")
_REGIME_NAMES = tuple(regime.value for regime in Regime)

Place = tuple[str | None, str | None]


def _country_code(text: object) -> str | None:
    """``text`` as an upper-case ISO 3166-1 alpha-2 code, or None when it is not one."""
    if not isinstance(text, str):
        return None
    code = text.strip().upper()
    return code if _COUNTRY.fullmatch(code) and code not in _NOT_A_COUNTRY else None


def _subdivision_code(country: str, text: object) -> str | None:
    """The subdivision part of an ISO 3166-2 code ("CA" or "US-CA" -> "CA"), or None."""
    if not isinstance(text, str):
        return None
    code = text.strip().upper().removeprefix(f"{country}-")
    return code if _SUBDIVISION.fullmatch(code) else None


class RegionTable:
    """Country and subdivision -> regime, from ``rules/regions.toml``."""

    def __init__(
        self,
        countries: Mapping[str, Regime],
        subdivisions: Mapping[str, Regime],
        unknown_subdivision: Mapping[str, Regime],
    ) -> None:
        self._countries = dict(countries)
        self._subdivisions = dict(subdivisions)
        self._unknown_subdivision = dict(unknown_subdivision)

    @classmethod
    def load(cls, path: Path | None = None) -> RegionTable:
        """The table in ``path`` (default: the built-in one); ``ValueError`` names the problem."""
        path = path or rules_dir() / "regions.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise ValueError(f"{path}: cannot read the region table ({error})") from None
        places: dict[str, dict[str, Regime]] = {field: {} for field in _LISTS}
        fallbacks: dict[str, Regime] = {}
        for key, table in data.items():
            if not isinstance(table, dict):
                raise ValueError(f"{path}: [{key}] must be a table")
            if key == _UNKNOWN_SUBDIVISION:
                fallbacks = _read_fallbacks(path, table)
            else:
                _read_regime(path, key, table, places)
        countries, subdivisions = places["countries"], places["subdivisions"]
        for code in [*(c.partition("-")[0] for c in subdivisions), *fallbacks]:
            if code not in countries:
                raise ValueError(f"{path}: {code} has subdivision rules but no country entry")
        return cls(countries, subdivisions, fallbacks)

    @property
    def size(self) -> int:
        """How many countries and subdivisions have a regime of their own."""
        return len(self._countries) + len(self._subdivisions) + len(self._unknown_subdivision)

    def regime_for(self, country: str | None, subdivision: str | None = None) -> Regime | None:
        """The regime for a place, or None for an unknown country (the caller's default applies).

        ``subdivision`` may be given as "CA" or "US-CA"; a malformed one counts as unknown.
        """
        code = _country_code(country)
        if code is None:
            return None
        part = _subdivision_code(code, subdivision)
        if part is None:
            fallback = self._unknown_subdivision.get(code)
            if fallback is not None:
                return fallback
        else:
            regime = self._subdivisions.get(f"{code}-{part}")
            if regime is not None:
                return regime
        return self._countries.get(code)


def _read_regime(
    path: Path, key: str, table: dict[str, object], places: dict[str, dict[str, Regime]]
) -> None:
    """Add the codes of one ``[<regime>]`` table to ``places``."""
    if key not in _REGIME_NAMES:
        raise ValueError(
            f"{path}: [{key}] is not a regime ({', '.join(_REGIME_NAMES)}) "
            f"nor [{_UNKNOWN_SUBDIVISION}]"
        )
    for field, codes in table.items():
        if field not in _LISTS or not isinstance(codes, list):
            raise ValueError(
                f"{path}: [{key}] {field}: expected `countries` or `subdivisions`, "
                "each a list of codes"
            )
        listed = places[field]
        shape = _COUNTRY if field == "countries" else _ISO_3166_2
        for raw in codes:
            code = _listed_code(path, f"{key}.{field}", raw, shape)
            if code in listed:
                raise ValueError(
                    f"{path}: {code} is listed twice, under [{listed[code].value}] and [{key}]"
                )
            listed[code] = Regime(key)


def _read_fallbacks(path: Path, table: dict[str, object]) -> dict[str, Regime]:
    return {
        _listed_code(path, _UNKNOWN_SUBDIVISION, country, _COUNTRY): _regime(
            path, f"{_UNKNOWN_SUBDIVISION}.{country}", regime
        )
        for country, regime in table.items()
    }


def _regime(path: Path, key: str, value: object) -> Regime:
    if value not in _REGIME_NAMES:
        raise ValueError(f"{path}: {key}: {value!r} is not a regime ({', '.join(_REGIME_NAMES)})")
    return Regime(value)


def _listed_code(path: Path, key: str, code: object, shape: re.Pattern[str]) -> str:
    if not isinstance(code, str) or not shape.fullmatch(code) or code in _NOT_A_COUNTRY:
        kind = "ISO 3166-1 alpha-2" if shape is _COUNTRY else "ISO 3166-2"
        raise ValueError(f"{path}: [{key}]: {code!r} is not an upper-case {kind} code")
    return code


class CountryResolver:
    """The visitor's country and subdivision, from a trusted header or a GeoIP database."""

    def __init__(
        self,
        *,
        country_header: str | None = None,
        subdivision_header: str | None = None,
        geoip_database: Path | None = None,
    ) -> None:
        self.country_header = _header_name(country_header)
        self.subdivision_header = _header_name(subdivision_header)
        self._reader = open_geoip_database(geoip_database) if geoip_database else None
        self.reads_client_ip = self._reader is not None

    def use_database(self, reader: maxminddb.Reader) -> None:
        """Look addresses up in ``reader`` from now on (the file was replaced, as
        geoipupdate does); the previous one is closed."""
        previous, self._reader = self._reader, reader
        self.reads_client_ip = True
        if previous is not None:
            previous.close()

    def inputs(self, headers: Mapping[bytes, bytes], client_ip: str | None) -> tuple[object, ...]:
        """Everything ``resolve`` reads, as a key: equal inputs resolve to the same place."""
        return (
            headers.get(self.country_header) if self.country_header else None,
            headers.get(self.subdivision_header) if self.subdivision_header else None,
            client_ip if self._reader is not None else None,
        )

    def resolve(self, headers: Mapping[bytes, bytes], client_ip: str | None) -> Place:
        """(country, subdivision): upper-case ISO codes, the subdivision without its country.

        A configured header wins; a missing or malformed one counts as absent. The database
        fills in what the headers leave open (a header country without its subdivision).
        Never raises: anything unreadable counts as unknown.
        """
        country = subdivision = None
        if self.country_header:
            country = _country_code(_text(headers.get(self.country_header)))
        if country and self.subdivision_header:
            raw = _text(headers.get(self.subdivision_header))
            subdivision = _subdivision_code(country, raw)
        if self._reader is None or not client_ip or (country and subdivision):
            return country, subdivision
        found_country, found_subdivision = self._lookup(client_ip)
        if country is None:
            return found_country, found_subdivision
        return country, found_subdivision if found_country == country else None

    def _lookup(self, client_ip: str) -> Place:
        # Not remembered here: ``resolve`` runs only when the policy's memo of consent
        # states, keyed by this same address, has no answer.
        assert self._reader is not None
        try:
            address = ipaddress.ip_address(client_ip)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped  # "::ffff:203.0.113.9" from a dual-stack socket
            record = self._reader.get(address)
        except (ValueError, TypeError, maxminddb.InvalidDatabaseError):
            return None, None
        return _place(record)


def _header_name(name: str | None) -> bytes | None:
    if not name:
        return None
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an HTTP header name")
    return name.lower().encode("ascii")


def open_geoip_database(path: Path) -> maxminddb.Reader:
    """The MaxMind database at ``path``; ``ValueError`` says why it cannot be read."""
    try:
        return maxminddb.open_database(str(path))
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as error:
        raise ValueError(f"cannot open the GeoIP database {path}: {error}") from None


def _text(raw: bytes | None) -> str | None:
    return raw.decode("latin-1") if raw else None


def _place(record: object) -> Place:
    """Country and first-level subdivision of a GeoIP2-shaped record."""
    if not isinstance(record, dict):
        return None, None
    country = _country_code(_iso_code(record.get("country")))
    subdivisions = record.get("subdivisions")
    if country is None or not isinstance(subdivisions, list) or not subdivisions:
        return country, None
    return country, _subdivision_code(country, _iso_code(subdivisions[0]))


def _iso_code(entry: object) -> object:
    return entry.get("iso_code") if isinstance(entry, dict) else None


def gpc_enabled(value: bytes | None) -> bool:
    """Global Privacy Control: only ``Sec-GPC: 1`` counts (the spec defines no other value)."""
    return value is not None and value.strip() == b"1"


def default_grants(regime: Regime, gpc: bool) -> tuple[frozenset[Category], Source]:
    """What a visitor who has not chosen yet is granted, and why.

    GPC refuses marketing under opt-out, where several states make it binding, and under
    notice too: honouring the visitor's own signal costs the site nothing and is what the
    visitor expects. Opt-in already refuses everything optional.
    """
    if regime is Regime.OPT_IN:
        return ESSENTIAL_ONLY, Source.DEFAULT
    if gpc:
        return ALL_GRANTED - {Category.MARKETING}, Source.GPC
    return ALL_GRANTED, Source.DEFAULT
