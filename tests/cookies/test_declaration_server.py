"""The cookie declaration through a real server, on SQLite and PostgreSQL: a cookie the site
sets is listed at once, one browsers send only once enough visitors (told apart by network)
sent it; what is listed survives a restart until ``consent-gateway declaration reset``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gateway import ConsentMiddleware, Settings
from gateway.cli import main
from gateway.cookies.declaration import BUILTIN_ORIGIN, RULES_PER_VISITOR
from gateway.cookies.rules import Classifier, MatchKind
from tests.support.apps import SECRET, sets_cookies
from tests.support.servers import running

pytestmark = pytest.mark.slow  # every test runs real servers


def made_up_names() -> list[str]:
    """A cookie name for each first-party built-in rule a name can be made for (782)."""
    names = []
    for rule in Classifier.default([]).rules:
        if rule.origin.startswith(BUILTIN_ORIGIN) and rule.domain is None:
            if rule.match is MatchKind.EXACT:
                names.append(rule.name)
            elif rule.match is MatchKind.PREFIX:
                names.append(rule.name + "x1")
    return names


def gateway(database_url: str, *cookies: str) -> ConsentMiddleware:
    """A gateway behind a proxy on loopback, which tells it each visitor's address."""
    settings = Settings.load(
        environ={}, secret=SECRET, database_url=database_url, trusted_proxies=["127.0.0.1"]
    )
    return ConsentMiddleware(sets_cookies(*cookies), settings)


def listed(url: str) -> set[str]:
    declaration = httpx.get(url + "/_consent/declaration").json()
    return {entry["name"] for entries in declaration.values() for entry in entries}


def visit(url: str, address: str, cookie: str, agent: str = "Mozilla/5.0 Firefox/133.0") -> None:
    headers = {"cookie": cookie, "user-agent": agent, "x-forwarded-for": address}
    assert httpx.get(url + "/", headers=headers).status_code == 200


def new_consent_id(url: str, address: str) -> str:
    """A consent cookie of its own, as any client gets one for the asking."""
    response = httpx.post(
        url + "/_consent/state",
        json={"all": True},
        headers={"origin": url, "x-forwarded-for": address},
    )
    return response.cookies["cg_consent"]


def send_made_up_names(url: str, addresses: str) -> None:
    """Every made-up name, over 8 requests from 8 ``addresses`` (a template) of one network,
    each with a browser and a consent id of its own."""
    names = made_up_names()
    for number in range(8):
        address = addresses.format(number + 1)
        cookies = [f"{name}={number}" for name in names[number::8]]
        cookies.append(f"cg_consent={new_consent_id(url, address)}")
        visit(url, address, "; ".join(cookies), agent=f"Mozilla/5.0 Browser/{number}")


def test_made_up_names_from_two_networks_are_never_listed(database_url: str) -> None:
    with running(gateway(database_url, "sessionid")) as url:
        httpx.get(url + "/")  # the site sets its session cookie
        assert listed(url) == {"cg_consent", "sessionid"}
        send_made_up_names(url, "198.51.100.{}")
        send_made_up_names(url, "2001:db8:1:{}::1")  # 8 subnets of one site's /48
        assert listed(url) == {"cg_consent", "sessionid"}
    with running(gateway(database_url)) as url:  # what was pending was written at shutdown
        assert listed(url) == {"cg_consent", "sessionid"}


def test_three_networks_list_at_most_a_day_of_vouching_each(database_url: str) -> None:
    with running(gateway(database_url)) as url:
        before = listed(url)
        for addresses in ("198.51.100.{}", "203.0.113.{}", "192.0.2.{}"):
            send_made_up_names(url, addresses)
        added = listed(url) - before
    assert 0 < len(added) <= RULES_PER_VISITOR


def test_a_cookie_three_visitors_send_is_listed_and_one_the_site_sets_at_once(
    database_url: str,
) -> None:
    with running(gateway(database_url, "_fbp")) as url:
        assert "_fbp" not in listed(url)
        visit(url, "198.51.100.7", "_pk_id.1.1fff=a")  # answered with Set-Cookie: _fbp
        assert "_fbp" in listed(url)
        visit(url, "198.51.100.8", "_pk_id.1.1fff=b")  # the same network: the same visitor
        visit(url, "203.0.113.7", "_pk_id.1.1fff=c")
        assert "_pk_id.…" not in listed(url)
        visit(url, "2001:db8::7", "_pk_id.1.1fff=d")
        assert {"_fbp", "_pk_id.…"} <= listed(url)
    with running(gateway(database_url)) as url:
        assert {"_fbp", "_pk_id.…"} <= listed(url)


def test_reset_forgets_what_was_listed_and_who_vouched(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(f'database_url = "{database_url}"\n', encoding="utf-8")
    with running(gateway(database_url, "_fbp")) as url:
        visit(url, "198.51.100.7", "_pk_id.1.1fff=a; _clck=a")
        visit(url, "203.0.113.7", "_pk_id.1.1fff=b; _clck=b")
    with running(gateway(database_url)) as url:  # two visitors vouched, across a restart
        visit(url, "192.0.2.7", "_clck=c")
        assert listed(url) == {"cg_consent", "_fbp", "_clck"}
    assert main(["declaration", "reset", "--config", str(config)]) == 0
    said = capsys.readouterr().out
    assert "forgot 2 built-in cookie rule(s)" in said
    if database_url.startswith("sqlite"):
        assert str(tmp_path / "consent.db") in said
    else:
        assert "postgresql://postgres@127.0.0.1:5432/test" in said
    with running(gateway(database_url)) as url:
        visit(url, "192.0.2.7", "_pk_id.1.1fff=c")  # a third visitor, the first two forgotten
        assert listed(url) == {"cg_consent"}


def test_reset_never_creates_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.db"
    config = tmp_path / "settings.toml"
    config.write_text(f'database_url = "sqlite:///{missing}"\n', encoding="utf-8")
    assert main(["declaration", "reset", "--config", str(config)]) == 2
    assert f"the database {missing} does not exist" in capsys.readouterr().err
    assert not missing.exists()


@pytest.mark.postgres  # the server must answer that the database does not exist
def test_reset_names_a_missing_postgresql_database_without_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql://postgres:s3cret@127.0.0.1:5432/no_such_database"
    config = tmp_path / "settings.toml"
    config.write_text(f'database_url = "{url}"\n', encoding="utf-8")
    assert main(["declaration", "reset", "--config", str(config)]) == 2
    said = capsys.readouterr().err
    assert (
        "cannot open the database postgresql://postgres:***@127.0.0.1:5432/no_such_database" in said
    )
    assert "s3cret" not in said
