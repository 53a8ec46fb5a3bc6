"""Country -> regime, the trusted header or GeoIP database, GPC and the defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from gateway.consent.jurisdiction import CountryResolver, RegionTable, default_grants, gpc_enabled
from gateway.consent.state import ALL_GRANTED, ESSENTIAL_ONLY, Category, Regime, Source

EU_MEMBERS = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
US_STATES_WITH_PRIVACY_LAWS = "CA VA CO CT UT IA IN TN TX OR MT DE NH NJ KY NE MD MN RI"


@pytest.fixture(scope="module")
def regions() -> RegionTable:
    return RegionTable.load()


@pytest.mark.parametrize(
    ("country", "subdivision", "regime"),
    [
        ("DE", None, Regime.OPT_IN),
        ("fr", None, Regime.OPT_IN),
        (" it ", None, Regime.OPT_IN),
        ("DE", "BY", Regime.OPT_IN),
        ("NO", None, Regime.OPT_IN),
        ("GB", None, Regime.OPT_IN),
        ("CH", None, Regime.OPT_IN),
        ("BR", None, Regime.OPT_IN),
        ("TR", None, Regime.OPT_IN),
        ("RE", None, Regime.OPT_IN),
        ("US", "CA", Regime.OPT_OUT),
        ("US", "US-TX", Regime.OPT_OUT),
        ("us", "us-co", Regime.OPT_OUT),
        ("US", "AL", Regime.NOTICE),
        ("US", None, Regime.OPT_OUT),
        ("US", "", Regime.OPT_OUT),
        ("US", "not a state", Regime.OPT_OUT),
        ("CA", "QC", Regime.OPT_IN),
        ("CA", "CA-QC", Regime.OPT_IN),
        ("CA", "ON", Regime.NOTICE),
        ("CA", None, Regime.OPT_IN),
        ("JP", None, Regime.NOTICE),
        ("AU", "NSW", Regime.NOTICE),
        ("XK", None, Regime.NOTICE),
    ],
)
def test_regime_by_place(
    regions: RegionTable, country: str, subdivision: str | None, regime: Regime
) -> None:
    assert regions.regime_for(country, subdivision) is regime


@pytest.mark.parametrize(
    "country", ["XX", "T1", "A1", "EU", "QQ", "", None, "Germany", "D", "\x00"]
)
def test_unknown_countries_leave_the_choice_to_the_caller(
    regions: RegionTable, country: str | None
) -> None:
    assert regions.regime_for(country) is None
    assert regions.regime_for(country, "CA") is None


def test_every_eu_member_state_is_opt_in(regions: RegionTable) -> None:
    assert {regions.regime_for(code) for code in EU_MEMBERS.split()} == {Regime.OPT_IN}


def test_us_states_with_privacy_laws_are_opt_out(regions: RegionTable) -> None:
    states = US_STATES_WITH_PRIVACY_LAWS.split()
    assert {regions.regime_for("US", state) for state in states} == {Regime.OPT_OUT}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "regions.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[sometimes]\ncountries = ["DE"]\n', r"\[sometimes\] is not a regime"),
        ('[opt-in]\ncountries = ["Germany"]\n', "'Germany' is not an upper-case ISO 3166-1"),
        ('[opt-in]\ncountries = ["de"]\n', "'de'"),
        ('[opt-in]\ncountries = ["XX"]\n', "'XX'"),
        ('[opt-out]\nsubdivisions = ["California"]\n', "'California' is not an upper-case ISO"),
        ('[opt-in]\ncountry = ["DE"]\n', r"\[opt-in\] country: expected"),
        ('[opt-in]\ncountries = "DE"\n', r"\[opt-in\] countries: expected"),
        ('opt-in = ["DE"]\n', r"\[opt-in\] must be a table"),
        ('[opt-in]\ncountries = ["DE"]\n[notice]\ncountries = ["DE"]\n', "DE is listed twice"),
        ('[opt-out]\nsubdivisions = ["US-CA"]\n', "US has subdivision rules but no country"),
        ('[notice]\ncountries = ["US"]\n[unknown-subdivision]\nUS = "strict"\n', "US: 'strict'"),
        ("[opt-in\n", "cannot read the region table"),
    ],
)
def test_a_bad_region_file_names_the_file_and_the_problem(
    tmp_path: Path, text: str, named: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=named) as error:
        RegionTable.load(path)
    assert str(path) in str(error.value)


def test_a_missing_region_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nowhere\.toml"):
        RegionTable.load(tmp_path / "nowhere.toml")


def test_a_site_can_ship_its_own_region_table(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[opt-out]\ncountries = ["CH"]\n[notice]\ncountries = ["US"]\nsubdivisions = ["US-CA"]\n',
    )
    table = RegionTable.load(path)
    assert table.regime_for("CH") is Regime.OPT_OUT
    assert table.regime_for("US", "CA") is Regime.NOTICE
    assert table.regime_for("DE") is None


@pytest.fixture(scope="module")
def geoip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    writer = MMDBWriter(ip_version=6, database_type="GeoIP2-City", ipv4_compatible=True)
    writer.insert_network(
        IPSet(["203.0.113.0/24"]),
        {"country": {"iso_code": "US"}, "subdivisions": [{"iso_code": "CA"}]},
    )
    writer.insert_network(
        IPSet(["2001:db8::/32"]),
        {"country": {"iso_code": "CA"}, "subdivisions": [{"iso_code": "QC"}]},
    )
    writer.insert_network(IPSet(["198.51.100.0/24"]), {"country": {"iso_code": "DE"}})
    writer.insert_network(IPSet(["192.0.2.0/24"]), {"country": {"iso_code": "Germany"}})
    path = tmp_path_factory.mktemp("geoip") / "city.mmdb"
    writer.to_db_file(str(path))
    return path


@pytest.mark.parametrize(
    ("client_ip", "place"),
    [
        ("203.0.113.9", ("US", "CA")),
        ("::ffff:203.0.113.9", ("US", "CA")),
        ("2001:db8::1", ("CA", "QC")),
        ("2001:db8:ffff::9", ("CA", "QC")),
        ("198.51.100.1", ("DE", None)),
        ("203.0.114.1", (None, None)),
        ("2001:db9::1", (None, None)),
        ("192.0.2.1", (None, None)),
        ("not an ip", (None, None)),
        ("", (None, None)),
        (None, (None, None)),
    ],
)
def test_place_from_the_geoip_database(
    geoip: Path, client_ip: str | None, place: tuple[str | None, str | None]
) -> None:
    assert CountryResolver(geoip_database=geoip).resolve({}, client_ip) == place


def test_an_ipv4_only_database_answers_ipv6_visitors_with_nothing(tmp_path: Path) -> None:
    writer = MMDBWriter(ip_version=4, database_type="GeoLite2-Country")
    writer.insert_network(IPSet(["203.0.113.0/24"]), {"country": {"iso_code": "FR"}})
    path = tmp_path / "country.mmdb"
    writer.to_db_file(str(path))
    resolver = CountryResolver(geoip_database=path)
    assert resolver.resolve({}, "203.0.113.7") == ("FR", None)
    assert resolver.resolve({}, "2001:db8::1") == (None, None)


def test_a_visitor_is_placed_under_the_right_regime(geoip: Path, regions: RegionTable) -> None:
    resolver = CountryResolver(geoip_database=geoip)
    assert regions.regime_for(*resolver.resolve({}, "2001:db8::1")) is Regime.OPT_IN
    assert regions.regime_for(*resolver.resolve({}, "203.0.113.9")) is Regime.OPT_OUT
    assert regions.regime_for(*resolver.resolve({}, "203.0.114.1")) is None


def test_the_trusted_header_wins_over_the_database(geoip: Path) -> None:
    resolver = CountryResolver(
        country_header="CF-IPCountry", subdivision_header="CF-Region-Code", geoip_database=geoip
    )
    assert (resolver.country_header, resolver.subdivision_header) == (
        b"cf-ipcountry",
        b"cf-region-code",
    )
    assert resolver.resolve({b"cf-ipcountry": b"fr"}, "203.0.113.9") == ("FR", None)
    assert resolver.resolve({b"cf-ipcountry": b"US", b"cf-region-code": b"US-VA"}, None) == (
        "US",
        "VA",
    )
    assert resolver.resolve({b"cf-ipcountry": b" us ", b"cf-region-code": b"tx"}, None) == (
        "US",
        "TX",
    )


def test_the_database_fills_in_the_subdivision_a_header_leaves_out(geoip: Path) -> None:
    resolver = CountryResolver(country_header="CloudFront-Viewer-Country", geoip_database=geoip)
    assert resolver.country_header == b"cloudfront-viewer-country"
    assert resolver.resolve({b"cloudfront-viewer-country": b"US"}, "203.0.113.9") == ("US", "CA")
    # The database disagrees on the country: its subdivision belongs to another place.
    assert resolver.resolve({b"cloudfront-viewer-country": b"MX"}, "203.0.113.9") == ("MX", None)


@pytest.mark.parametrize(
    "country", [b"XX", b"T1", b"A1", b"\xff<script>", b"USA", b"", b"U S", b"12"]
)
def test_garbage_in_the_country_header_falls_back_to_the_database(
    geoip: Path, country: bytes
) -> None:
    resolver = CountryResolver(
        country_header="X-Vercel-IP-Country",
        subdivision_header="X-Vercel-IP-Country-Region",
        geoip_database=geoip,
    )
    headers = {b"x-vercel-ip-country": country, b"x-vercel-ip-country-region": b"NY"}
    assert resolver.resolve(headers, "2001:db8::5") == ("CA", "QC")
    assert resolver.resolve(headers, None) == (None, None)


@pytest.mark.parametrize("region", [b"\xff\xfe", b"NEW YORK", b"US-", b"", b"CA-QC"])
def test_garbage_in_the_subdivision_header_is_ignored(region: bytes) -> None:
    resolver = CountryResolver(
        country_header="CloudFront-Viewer-Country",
        subdivision_header="CloudFront-Viewer-Country-Region",
    )
    headers = {b"cloudfront-viewer-country": b"US", b"cloudfront-viewer-country-region": region}
    assert resolver.resolve(headers, "203.0.113.9") == ("US", None)


def test_headers_are_not_trusted_unless_configured(geoip: Path) -> None:
    resolver = CountryResolver(geoip_database=geoip)
    assert (resolver.country_header, resolver.subdivision_header) == (None, None)
    assert resolver.resolve({b"cf-ipcountry": b"JP"}, "203.0.113.9") == ("US", "CA")
    assert CountryResolver().resolve({b"cf-ipcountry": b"JP"}, "203.0.113.9") == (None, None)


def test_a_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"missing\.mmdb"):
        CountryResolver(geoip_database=tmp_path / "missing.mmdb")


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "GeoLite2-City.mmdb"
    path.write_bytes(b"this is not a MaxMind database\n" * 10)
    with pytest.raises(ValueError, match=r"GeoLite2-City\.mmdb"):
        CountryResolver(geoip_database=path)


def test_a_header_name_that_cannot_be_one_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="CF IPCountry"):
        CountryResolver(country_header="CF IPCountry")


@pytest.mark.parametrize(
    ("value", "enabled"),
    [
        (b"1", True),
        (b" 1 ", True),
        (b"0", False),
        (b"true", False),
        (b"11", False),
        (b"\xff", False),
        (b"", False),
        (None, False),
    ],
)
def test_gpc_header(value: bytes | None, enabled: bool) -> None:
    assert gpc_enabled(value) is enabled


WITHOUT_MARKETING = ALL_GRANTED - {Category.MARKETING}


@pytest.mark.parametrize(
    ("regime", "gpc", "grants"),
    [
        (Regime.OPT_IN, False, (ESSENTIAL_ONLY, Source.DEFAULT)),
        (Regime.OPT_IN, True, (ESSENTIAL_ONLY, Source.DEFAULT)),
        (Regime.OPT_OUT, False, (ALL_GRANTED, Source.DEFAULT)),
        (Regime.OPT_OUT, True, (WITHOUT_MARKETING, Source.GPC)),
        (Regime.NOTICE, False, (ALL_GRANTED, Source.DEFAULT)),
        (Regime.NOTICE, True, (WITHOUT_MARKETING, Source.GPC)),
    ],
)
def test_defaults_before_a_choice(
    regime: Regime, gpc: bool, grants: tuple[frozenset[Category], Source]
) -> None:
    assert default_grants(regime, gpc) == grants


@pytest.mark.parametrize(
    ("trusted", "forwarded_for", "regime"),
    [
        (["127.0.0.1"], "203.0.113.9", "opt-out"),  # California, behind the site's proxy
        (["127.0.0.1"], "198.51.100.1, 203.0.113.9", "opt-out"),  # the hop the proxy saw: CA
        (["127.0.0.0/8"], "203.0.113.9, 127.0.0.2", "opt-out"),  # trusted hops are skipped
        ([], "203.0.113.9", None),  # no trusted proxy: the header is anyone's to write
    ],
)
async def test_the_geoip_address_is_read_through_trusted_proxies_only(
    geoip: Path,
    make_gateway: Any,
    trusted: list[str],
    forwarded_for: str,
    regime: str | None,
) -> None:
    """The same rule as analytics collection: X-Forwarded-For only from a trusted peer."""
    gateway = make_gateway(geoip_database=str(geoip), trusted_proxies=trusted)
    transport = httpx.ASGITransport(app=gateway, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        found = await client.get("/_consent/state", headers={"x-forwarded-for": forwarded_for})
        peer_only = await client.get("/_consent/state")
    expected = regime if regime is not None else peer_only.json()["regime"]
    assert found.json()["regime"] == expected
    if regime is None:
        assert expected != "opt-out"  # California's regime would mean it was believed
