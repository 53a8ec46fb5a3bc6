"""Importing the Open Cookie Database into a site rules file."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway import ConsentMiddleware
from gateway.cli import main
from gateway.consent.state import Category
from gateway.cookies.ocd import import_ocd, toml_string, vendor_domain
from gateway.cookies.rules import Classifier, CookieRule, load_site_rule_file
from tests.support.servers import running

OCD = Path(__file__).resolve().parents[1] / "data" / "open-cookie-database.csv"
HEADER = (
    "ID,Platform,Category,Cookie / Data Key name,Domain,Description,Retention period,"
    "Data Controller,User Privacy & GDPR Rights Portals,Wildcard match\n"
)
# Session and CSRF cookies of common frameworks, and generic names some vendor uses on its
# own domain: after importing the OCD, none of them may become non-essential on a site.
LOGIN_COOKIES = [
    "sessionid",
    "_session_id",
    "_sx",
    "token",
    "uid",
    "csrftoken",
    "PHPSESSID",
    "JSESSIONID",
    "laravel_session",
]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real OCD imported as the README says, into a site rules file."""
    path = tmp_path_factory.mktemp("ocd") / "site-rules.toml"
    assert main(["rules", "import-ocd", str(OCD), "-o", str(path)]) == 0
    return path


def import_rows(tmp_path: Path, rows: str) -> tuple[list[CookieRule], list[tuple[int, str]]]:
    """The rules and skipped lines of an OCD CSV holding ``rows``."""
    csv_path, toml_path = tmp_path / "ocd.csv", tmp_path / "ocd.toml"
    csv_path.write_text(HEADER + rows)
    text, report = import_ocd(csv_path)
    toml_path.write_text(text)
    return load_site_rule_file(toml_path), report.skipped


def test_the_real_database_imports_and_classifies(tmp_path: Path) -> None:
    text, report = import_ocd(OCD)
    assert report.vendors > 300
    assert 2000 < report.cookies + len(report.skipped) <= 2264
    (tmp_path / "ocd.toml").write_text(text)
    rules = load_site_rule_file(tmp_path / "ocd.toml")
    assert len(rules) == report.cookies
    classifier = Classifier(rules)

    def category(name: str) -> Category | None:
        rule = classifier.classify(name)
        return rule.category if rule else None

    assert category("_ga") is Category.ANALYTICS
    assert category("PHPSESSID") is Category.ESSENTIAL
    assert category("_ga_ABC123") is Category.ANALYTICS  # a wildcard row is a prefix
    assert category("pvc_visits[0]") is Category.ANALYTICS  # any name a browser can send
    assert category("a0_users:sess") is Category.ESSENTIAL
    # The OCD says Meta sets _fbp on facebook.com: the built-in rule classifies it.
    assert category("_fbp") is None
    assert {rule.domain for rule in classifier.elsewhere("_fbp")} == {"facebook.com"}
    assert report.third_party > 1000


@pytest.mark.parametrize("name", LOGIN_COOKIES)
def test_importing_the_database_keeps_logins_working(imported: Path, name: str) -> None:
    """Instagram's sessionid, Marfeel's prefix _s, Adform's token and uid were all
    imported as first-party rules that beat the built-in ones, and broke every login."""
    rule = Classifier.default(load_site_rule_file(imported)).classify(name)
    assert rule is None or rule.category is Category.ESSENTIAL, rule


async def _login(request: Request) -> JSONResponse:
    """A login that sets a Django and a Rails session, and reports what it received."""
    response = JSONResponse({"received": sorted(request.cookies)})
    if request.method == "POST":
        response.set_cookie("sessionid", "dj4ng0", httponly=True)
        response.set_cookie("_session_id", "r41ls", httponly=True)
        response.set_cookie("_ga", "GA1.1.123.456", max_age=63072000)
    return response


@pytest.mark.slow
def test_the_readme_flow_keeps_logins_working_through_a_server(
    imported: Path, make_gateway: Callable[..., ConsentMiddleware]
) -> None:
    app = Starlette(routes=[Route("/login", _login, methods=["GET", "POST"])])
    gateway = make_gateway(app, rule_files=[imported])  # default regime: opt-in, no choice yet
    with running(gateway) as base, httpx.Client(base_url=base) as client:
        login = client.post("/login")
        assert login.status_code == 200
        assert {"sessionid", "_session_id"} <= set(client.cookies.keys())
        assert "_ga" not in client.cookies  # the rules still work
        received = client.get("/login").json()["received"]
        assert {"sessionid", "_session_id"} <= set(received)


def _declared(client: httpx.Client) -> set[str]:
    listed = client.get("/_consent/declaration").json()
    return {entry["name"] for entries in listed.values() for entry in entries}


@pytest.mark.slow
def test_an_imported_database_is_declared_only_where_the_site_uses_it(
    imported: Path, tmp_path: Path, make_gateway: Callable[..., ConsentMiddleware]
) -> None:
    """An imported OCD lists 2,000 cookies of other sites; the banner's declaration must
    describe this site, so its rules are listed once seen, as built-in rules are. A rules
    file the operator wrote is the site's own list, and is listed whole."""
    own = tmp_path / "own.toml"
    own.write_text(
        '[[vendor]]\nname = "Shop"\ncookies = [{ name = "cart", category = "essential", '
        'purpose = "Keeps the basket.", retention = "session" }]\n'
    )
    app = Starlette(routes=[Route("/login", _login, methods=["GET", "POST"])])
    gateway = make_gateway(app, rule_files=[imported, own], declare_seen_cookies=True)
    with running(gateway) as base, httpx.Client(base_url=base) as client:
        before = _declared(client)
        assert "cart" in before
        assert len(before) < 20, sorted(before)
        client.post("/login")  # the site sets sessionid: its rule is listed now
        assert "sessionid" in _declared(client)


@pytest.mark.parametrize(
    ("column", "domain"),
    [
        ("", ""),
        ("  ", ""),
        (".linkedin.com", "linkedin.com"),
        ("facebook.com (3rd party)", "facebook.com"),
        ("Inspectlet.com (3rd party)", "inspectlet.com"),
        (".bing.com (3rd party) or .microsoft.com (3rd party)", "bing.com or microsoft.com"),
        ("or 207.net (3rd party)", "207.net"),
        ("google-analytics.com (3rd party) or", "google-analytics.com"),
        (".commander1.com\u200b", "commander1.com"),
        (".amplitude.com.", "amplitude.com"),
        ("ads-[account].adhese.com", "ads-[account].adhese.com"),
        ("(3rd party)", "(3rd party)"),  # names no host, but says third party all the same
    ],
)
def test_the_domain_column_becomes_a_vendor_domain(column: str, domain: str) -> None:
    assert vendor_domain(column) == domain


def test_rows_with_a_domain_never_classify_a_cookie_of_the_site(tmp_path: Path) -> None:
    rules, _ = import_rows(
        tmp_path,
        "1,Instagram,Marketing,sessionid,instagram.com,Signs in.,1 year,Meta,,0\n"
        "2,Facebook,Marketing,fr,facebook.com (3rd party),Ads.,90 days,Meta,,0\n"
        "3,Matomo,Analytics,_pk_id.,,Visitor ID.,13 months,Matomo,,1\n",
    )
    assert [rule.domain for rule in rules] == ["instagram.com", "facebook.com", None]
    classifier = Classifier([], rules)
    assert classifier.classify("sessionid") is None
    assert classifier.classify("fr") is None
    assert classifier.classify("_pk_id.1.abcd") is rules[2]
    assert classifier.elsewhere("fr") == [rules[1]]


def test_prefixes_too_short_to_name_a_vendor_are_skipped(tmp_path: Path) -> None:
    rules, skipped = import_rows(
        tmp_path,
        "1,Marfeel,Analytics,_s,,Visit.,30 minutes,Marfeel,,1\n"
        "2,Mixpanel,Analytics,mp_,,Visitor.,1 year,Mixpanel,,1\n"
        "3,Shopify,Analytics,_s,,Session.,30 minutes,Shopify,,0\n",
    )
    assert [(rule.name, rule.match.value) for rule in rules] == [("mp_", "prefix"), ("_s", "exact")]
    assert skipped == [(2, "prefix '_s' is too short to tell its vendor's cookies")]


def test_the_real_database_skips_its_short_prefixes_and_only_those() -> None:
    _, report = import_ocd(OCD)
    short = sorted(reason.split("'")[1] for _, reason in report.skipped if "too short" in reason)
    assert short == ["CT", "P_", "SR", "_s", "tp"]
    assert len(report.skipped) <= 10


def test_names_are_checked_as_browsers_check_them(tmp_path: Path) -> None:
    rules, skipped = import_rows(
        tmp_path,
        "1,Postviewscounter,Analytics,pvc_visits[0],,Views.,1 day,P,,0\n"
        "2,Auth0,Functional,a0_users:sess,,Session.,1 day,Auth0,,0\n"
        "3,Qualtrics,Functional,Site History,,History.,session,Qualtrics,,0\n"
        "4,Loggly,Analytics,logglytrackings\u00adession,,Session.,session,Loggly,,0\n"
        '5,Broken,Analytics,"a;b",,Nothing.,session,Broken,,0\n',
    )
    assert [rule.name for rule in rules] == ["pvc_visits[0]", "a0_users:sess", "Site History"]
    assert [line for line, _ in skipped] == [5, 6]
    assert "non-ASCII" in skipped[0][1]
    assert "';'" in skipped[1][1]


@pytest.mark.slow
def test_classify_says_where_a_third_party_name_is_set(
    imported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f"rule_files = [{toml_string(str(imported))}]\n")
    assert main(["classify", "--config", str(config), "fr", "sessionid"]) == 1
    fr, sessionid = capsys.readouterr().out.splitlines()
    assert fr.startswith("fr\tunknown\t")
    assert "set on facebook.com by Meta Pixel (marketing)" in fr
    assert fr.endswith(", never on this site")
    assert sessionid.startswith("sessionid\tessential\tDjango\t")

    assert main(["classify", "--json", "--config", str(config), "uid"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert found["category"] is None
    assert [(other["vendor"], other["domain"]) for other in found["elsewhere"]] == [
        ("Adform", "adform.net")
    ]


def test_check_names_the_rules_that_yield_to_built_in_essential_ones(
    imported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f"rule_files = [{toml_string(str(imported))}]\n"
        '[[cookies]]\nname = "csrftoken"\ncategory = "analytics"\n'
        'retention = "1 year"\npurpose = "Deliberately measured."\n'
    )
    assert main(["check", str(config)]) == 0
    out = capsys.readouterr().out
    assert "rule 'mtm_consent' (Matomo, analytics) does not apply to 'mtm_consent'" in out
    assert "add `override = true`" in out
    assert "rule 'csrftoken' (site, analytics) makes 'csrftoken', essential for Django" in out
    assert out.endswith(f"{config}: OK\n")


@pytest.mark.slow
def test_cli_writes_a_rules_file_the_settings_can_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "site-rules.toml"
    assert main(["rules", "import-ocd", str(OCD), "-o", str(out)]) == 0
    assert tomllib.loads(out.read_text())["vendor"]
    config = tmp_path / "gateway.toml"
    config.write_text(f"rule_files = [{toml_string(str(out))}]\n")
    capsys.readouterr()
    # Site rules win over the built-in ones, so _ga is now classified by the imported file.
    assert main(["classify", "--json", "--config", str(config), "_ga"]) == 0
    assert str(out) in capsys.readouterr().out


def test_a_csv_without_the_domain_column_is_refused(tmp_path: Path) -> None:
    """Without it, third-party rows would classify the site's own cookies."""
    old = tmp_path / "old.csv"
    old.write_text(HEADER.replace("Domain,", "") + "1,Google,Analytics,_ga,x,2 years,G,,0\n")
    with pytest.raises(ValueError, match="Domain"):
        import_ocd(old)


def test_malformed_csv_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    missing.write_text("Platform,Category\nGoogle,Analytics\n")
    with pytest.raises(ValueError, match="Cookie / Data Key name"):
        import_ocd(missing)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="missing"):
        import_ocd(empty)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"Platform,Category\n\xe9\xff\n")
    with pytest.raises(ValueError, match="UTF-8"):
        import_ocd(latin)


@given(st.text())
def test_toml_strings_read_back_exactly(value: str) -> None:
    assert tomllib.loads(f"v = {toml_string(value)}")["v"] == value
