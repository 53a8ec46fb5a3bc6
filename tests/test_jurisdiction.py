"""Country -> regime, the trusted header or GeoIP database, GPC and the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from gateway.consent import ALL_GRANTED, ESSENTIAL_ONLY, Category, Regime, Source
from gateway.jurisdiction import CountryResolver, RegionTable, default_grants, gpc_enabled


@pytest.fixture(scope="module")
def regions() -> RegionTable:
    return RegionTable.load()


@pytest.mark.parametrize(
    ("country", "subdivision", "regime"),
    [
        ("DE", None, Regime.OPT_IN),
        ("fr", None, Regime.OPT_IN),
        ("NO", None, Regime.OPT_IN),
        ("GB", None, Regime.OPT_IN),
        ("CH", None, Regime.OPT_IN),
        ("US", "CA", Regime.OPT_OUT),
        ("US", "US-TX", Regime.OPT_OUT),
        ("US", "AL", Regime.NOTICE),
        ("US", None, Regime.OPT_OUT),
        ("CA", "QC", Regime.OPT_IN),
        ("CA", "ON", Regime.NOTICE),
        ("JP", None, Regime.NOTICE),
        ("XX", None, None),
        ("T1", None, None),
        ("", None, None),
        (None, None, None),
        ("Germany", None, None),
    ],
)
def test_regime_by_place(
    regions: RegionTable, country: str | None, subdivision: str | None, regime: Regime | None
) -> None:
    assert regions.regime_for(country, subdivision) == regime


def test_every_eu_member_state_is_opt_in(regions: RegionTable) -> None:
    eu = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
    assert all(regions.regime_for(code) is Regime.OPT_IN for code in eu.split())


def test_a_bad_region_file_names_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "regions.toml"
    path.write_text('[sometimes]\ncountries = ["DE"]\n')
    with pytest.raises(ValueError, match="sometimes"):
        RegionTable.load(path)
    path.write_text('[opt-in]\ncountries = ["Germany"]\n')
    with pytest.raises(ValueError, match="Germany"):
        RegionTable.load(path)


@pytest.fixture(scope="module")
def geoip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    writer = MMDBWriter(ip_version=6, database_type="GeoIP2-City", ipv4_compatible=True)
    writer.insert_network(
        IPSet(["203.0.113.0/24"]),
        {"country": {"iso_code": "US"}, "subdivisions": [{"iso_code": "CA"}]},
    )
    writer.insert_network(IPSet(["2001:db8::/32"]), {"country": {"iso_code": "DE"}})
    path = tmp_path_factory.mktemp("geoip") / "test.mmdb"
    writer.to_db_file(str(path))
    return path


def test_country_from_the_geoip_database(geoip: Path) -> None:
    resolver = CountryResolver(geoip_database=geoip)
    assert resolver.resolve({}, "203.0.113.9") == ("US", "CA")
    assert resolver.resolve({}, "2001:db8::1") == ("DE", None)
    assert resolver.resolve({}, "198.51.100.1") == (None, None)
    assert resolver.resolve({}, "not an ip") == (None, None)
    assert resolver.resolve({}, None) == (None, None)


def test_trusted_header_wins_and_garbage_falls_back(geoip: Path) -> None:
    resolver = CountryResolver(
        country_header="CF-IPCountry", subdivision_header="CF-Region-Code", geoip_database=geoip
    )
    assert resolver.header_names == (b"cf-ipcountry", b"cf-region-code")
    assert resolver.resolve({b"cf-ipcountry": b"fr"}, "203.0.113.9") == ("FR", None)
    assert resolver.resolve({b"cf-ipcountry": b"US", b"cf-region-code": b"US-VA"}, None) == (
        "US",
        "VA",
    )
    assert resolver.resolve({b"cf-ipcountry": b"XX"}, "203.0.113.9") == ("US", "CA")
    assert resolver.resolve({b"cf-ipcountry": b"\xff<script>"}, "2001:db8::5") == ("DE", None)


def test_headers_are_not_trusted_unless_configured() -> None:
    assert CountryResolver().resolve({b"cf-ipcountry": b"US"}, "203.0.113.9") == (None, None)


def test_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"missing\.mmdb"):
        CountryResolver(geoip_database=tmp_path / "missing.mmdb")


@pytest.mark.parametrize(
    ("value", "enabled"),
    [
        (b"1", True),
        (b" 1 ", True),
        (b"0", False),
        (b"true", False),
        (b"\xff", False),
        (None, False),
    ],
)
def test_gpc_header(value: bytes | None, enabled: bool) -> None:
    assert gpc_enabled(value) is enabled


def test_defaults_per_regime() -> None:
    assert default_grants(Regime.OPT_IN, False) == (ESSENTIAL_ONLY, Source.DEFAULT)
    assert default_grants(Regime.OPT_IN, True) == (ESSENTIAL_ONLY, Source.DEFAULT)
    assert default_grants(Regime.OPT_OUT, False) == (ALL_GRANTED, Source.DEFAULT)
    granted, source = default_grants(Regime.OPT_OUT, True)
    assert Category.MARKETING not in granted and Category.ANALYTICS in granted
    assert source is Source.GPC
    assert default_grants(Regime.NOTICE, False) == (ALL_GRANTED, Source.DEFAULT)
