"""The visitor's records through a real server, on SQLite and PostgreSQL: what a decision
records (method, layer, path, the banner shown), ``GET`` and ``DELETE <api>/records``, and
the calls that must read or erase nothing (cross-site, tampered or missing cookie)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway import ConsentMiddleware, Settings
from gateway.store import ConsentRecord
from tests.support.apps import cookie_app
from tests.support.servers import running
from tests.support.tables import traces

pytestmark = pytest.mark.slow  # every test runs a real server


@pytest.fixture
def gateway(settings: Settings, database_url: str) -> ConsentMiddleware:
    options = {"database_url": database_url}
    return ConsentMiddleware(
        cookie_app(), Settings.load(environ={}, **{**settings.model_dump(), **options})
    )


@pytest.fixture
def client(gateway: ConsentMiddleware) -> Iterator[httpx.Client]:
    with running(gateway) as url, httpx.Client(base_url=url) as opened:
        yield opened


def history(gateway: ConsentMiddleware, consent_id: str) -> list[ConsentRecord]:
    return gateway.gateway.store.get().consent_history(consent_id)


def choose(client: httpx.Client, body: dict[str, Any]) -> str:
    answer = client.post("/_consent/state", json=body)
    assert answer.status_code == 200, answer.text
    consent_id = answer.json()["consent_id"]
    assert isinstance(consent_id, str)
    return consent_id


def test_each_choice_records_how_where_and_which_banner(
    client: httpx.Client, gateway: ConsentMiddleware
) -> None:
    banner = gateway.gateway.banner
    where = {"layer": "banner", "path": "/shop/item?email=a@b.example#x", "language": "de"}
    consent_id = choose(client, {"all": True, **where})
    choose(client, {"categories": {"analytics": True}, "layer": "preferences", "path": "/p"})
    choose(client, {"all": True, "gpc": True, "layer": "banner", "path": "/", "language": "fr"})
    choose(client, {"all": False})
    withdrawn = client.request(
        "DELETE", "/_consent/state", json={"layer": "preferences", "path": "/account"}
    )
    assert withdrawn.status_code == 200
    here = str(client.base_url).rstrip("/")
    posted = client.post(
        "/_consent/state", data={"all": "accept"}, headers={"referer": here + "/form?x=1"}
    )
    assert posted.status_code == 303
    found = history(gateway, consent_id)
    assert [(r.method, r.layer, r.path, r.language) for r in found] == [
        ("accept_all", "banner", "/shop/item", "de"),
        ("custom", "preferences", "/p", "en"),
        ("gpc", "banner", "/", "fr"),
        ("reject_all", "api", None, None),
        ("withdraw", "preferences", "/account", "en"),
        ("form", "form", "/form", "en"),
    ]
    assert found[0].banner_hash == banner.shown_hash("de") != banner.shown_hash("fr")
    assert found[2].banner_hash == banner.shown_hash("fr")
    assert found[3].banner_hash is None  # an API call showed no banner
    assert found[2].categories["marketing"] is False  # GPC: all but marketing
    assert found[2].categories["analytics"] is True
    assert [r.action for r in found] == ["grant"] * 4 + ["withdraw", "grant"]
    assert gateway.gateway.store.get().verify_records().ok


@pytest.mark.parametrize(
    "body",
    [
        {"all": True, "layer": "popup"},
        {"all": True, "path": "https://evil.example/x"},
        {"all": True, "path": "//evil.example/x"},
        {"all": True, "path": "/" + "a" * 2000},
        {"all": True, "language": ["de"]},
        {"all": True, "gpc": "yes"},
        {"all": True, "method": "accept_all"},
    ],
)
def test_unknown_or_malformed_fields_are_a_400_and_nothing_is_recorded(
    client: httpx.Client, gateway: ConsentMiddleware, body: dict[str, Any]
) -> None:
    consent_id = choose(client, {"all": False})
    answer = client.post("/_consent/state", json=body)
    assert answer.status_code == 400
    assert "error" in answer.json()
    assert len(history(gateway, consent_id)) == 1


def test_the_visitor_reads_and_erases_their_records(
    client: httpx.Client, gateway: ConsentMiddleware, database_url: str
) -> None:
    consent_id = choose(client, {"all": True, "layer": "banner", "path": "/"})
    choose(client, {"all": False, "layer": "preferences", "path": "/"})
    other = httpx.Client(base_url=client.base_url)
    other_id = choose(other, {"all": True})
    read = client.get("/_consent/records")
    assert read.status_code == 200
    assert read.headers["cache-control"] == "no-store"
    body = read.json()
    assert body["consent_id"] == consent_id
    assert [r["method"] for r in body["records"]] == ["accept_all", "reject_all"]
    assert {r["consent_id"] for r in body["records"]} == {consent_id}
    assert body["records"][1]["prev_hash"] is not None

    erased = client.delete("/_consent/records")
    assert erased.status_code == 200
    assert erased.json()["erased"]["consent_records"] == 2
    assert erased.json()["consent_id"] == consent_id
    expiring = [line for line in erased.headers.get_list("set-cookie") if "consent" in line]
    assert expiring and all("Max-Age=0" in line for line in expiring)
    assert history(gateway, consent_id) == []
    assert len(history(gateway, other_id)) == 1
    assert traces(database_url, consent_id) == []  # in no column of any table
    exposition = gateway.gateway.metrics.exposition().decode()
    assert 'consent_gateway_records_removed_total{reason="erased"} 2.0' in exposition
    assert client.get("/_consent/records").json() == {"consent_id": None, "records": []}
    assert gateway.gateway.store.get().verify_records().ok
    other.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
    ],
)
def test_cross_site_calls_read_and_erase_nothing(
    client: httpx.Client, gateway: ConsentMiddleware, headers: dict[str, str]
) -> None:
    consent_id = choose(client, {"all": True})
    read = client.get("/_consent/records", headers=headers)
    assert read.status_code == 403
    assert consent_id not in read.text
    erase = client.delete("/_consent/records", headers=headers)
    assert erase.status_code == 403
    assert "set-cookie" not in erase.headers
    assert len(history(gateway, consent_id)) == 1


def test_tampered_and_missing_cookies_read_and_erase_nothing(
    client: httpx.Client, gateway: ConsentMiddleware
) -> None:
    consent_id = choose(client, {"all": True})
    (name, value), *_ = client.cookies.items()
    tampered = value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB")
    for cookies in ({name: tampered}, {}):
        stranger = httpx.Client(base_url=client.base_url, cookies=cookies)
        read = stranger.get("/_consent/records")
        assert read.status_code == 200
        assert read.json() == {"consent_id": None, "records": []}
        erase = stranger.delete("/_consent/records")
        assert erase.status_code == 404
        stranger.close()
    assert len(history(gateway, consent_id)) == 1


def test_records_answer_only_get_delete_and_options(client: httpx.Client) -> None:
    answer = client.post("/_consent/records", json={})
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD, DELETE, OPTIONS"


def test_a_cookie_of_an_earlier_policy_version_still_reads_and_erases_its_records(
    client: httpx.Client, gateway: ConsentMiddleware, settings: Settings, database_url: str
) -> None:
    consent_id = choose(client, {"all": True})
    cookies = dict(client.cookies.items())
    options = {"database_url": database_url, "policy_version": "2"}
    changed = ConsentMiddleware(
        cookie_app(), Settings.load(environ={}, **{**settings.model_dump(), **options})
    )
    with running(changed) as url, httpx.Client(base_url=url, cookies=cookies) as visitor:
        assert visitor.get("/_consent/state").json()["decided"] is False  # asked again
        read = visitor.get("/_consent/records").json()
        assert read["consent_id"] == consent_id
        assert [r["policy_version"] for r in read["records"]] == ["1"]
        assert visitor.delete("/_consent/records").json()["erased"]["consent_records"] == 1
    assert history(gateway, consent_id) == []
