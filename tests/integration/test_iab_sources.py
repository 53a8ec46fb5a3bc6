"""The IAB strings as consent sources: a TC string in ``euconsent-v2`` and a GPP string in
``__gpp``, written by the IAB's own libraries, decide what passes through a real server; a
string that does not read is no consent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from gateway.consent.adapters import build
from gateway.consent.gpp import GppMapping, decode_gpp, gpp_categories
from gateway.consent.state import Category, Source
from tests.integration.test_consent_sources import set_cookie_names
from tests.support.apps import Gateway
from tests.support.gpp import library_strings
from tests.support.js import node_module
from tests.support.servers import running

pytestmark = pytest.mark.slow  # the strings come from Node; the tests run a real server

ROOT = Path(__file__).resolve().parents[2]
ALL = {"essential": True, "preferences": True, "analytics": True, "marketing": True}


def tc_string(*purposes: int) -> str:
    """A TC string as a CMP writes it today (@iabtechlabtcf/core), these purposes consented."""
    node_module("@iabtechlabtcf/core/package.json")
    result = subprocess.run(
        [
            "node",
            str(ROOT / "tests" / "js" / "tcf_strings.js"),
            "purposes",
            str(ROOT / "tests" / "data" / "tcf-gvl.json"),
            ",".join(map(str, purposes)),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    [entry] = json.loads(result.stdout)
    assert entry["fields"]["purposeConsents"] == sorted(purposes)  # as the library reads it
    return str(entry["string"])


def test_tcf_purposes_decide_the_categories() -> None:
    source = build(["tcf"], {})

    def granted(value: str) -> frozenset[Category] | None:
        return source.read(source.values([("euconsent-v2", value)])).granted

    everything = tc_string(*range(1, 11))
    assert granted(everything) == frozenset(Category)
    assert granted(tc_string(1, 7, 8, 9, 10)) == {Category.ESSENTIAL, Category.ANALYTICS}
    assert granted(tc_string(*range(2, 11))) == {Category.ESSENTIAL}  # no storage, purpose 1
    assert granted(tc_string()) == {Category.ESSENTIAL}
    cut = source.read(source.values([("euconsent-v2", everything[:40])]))
    assert (cut.granted, cut.invalid) == (None, True)
    assert source.read(source.values([])).source is None  # no cookie: the regime decides


def test_a_tc_string_decides_set_cookie_through_the_server(make_gateway: Gateway) -> None:
    analytics_only = tc_string(1, 7, 8, 9, 10)
    with (
        running(make_gateway(consent_source=["tcf"])) as base,
        httpx.Client(base_url=base) as client,
    ):
        assert set_cookie_names(client.get("/")) == {"sessionid"}
        client.cookies.set("euconsent-v2", analytics_only, domain="127.0.0.1")
        assert set_cookie_names(client.get("/")) == {"sessionid", "_ga"}
        state = client.get("/_consent/state").json()
        assert (state["source"], state["decided"]) == (Source.TCF.value, True)
        client.cookies.set("euconsent-v2", tc_string(*range(1, 11)), domain="127.0.0.1")
        assert set_cookie_names(client.get("/")) == {"sessionid", "_ga", "_fbp"}
        client.cookies.set("euconsent-v2", analytics_only[:-30] + "A", domain="127.0.0.1")
        assert set_cookie_names(client.get("/")) == {"sessionid"}  # does not read: no consent


def test_the_sites_tcf_purposes_decide_through_the_server(make_gateway: Gateway) -> None:
    """``[consent_adapters.tcf] purposes``: analytics needs purposes 1 and 8 on this site
    (rules/tcf.toml asks for 1, 7, 8, 9 and 10); marketing keeps the file's 1 to 4."""
    measured = tc_string(1, 8)
    gateway = make_gateway(
        consent_source=["tcf"],
        consent_adapters={"tcf": {"purposes": {"analytics": [1, 8]}}},
    )
    with running(gateway) as base, httpx.Client(base_url=base) as client:
        client.cookies.set("euconsent-v2", measured, domain="127.0.0.1")
        assert set_cookie_names(client.get("/")) == {"sessionid", "_ga"}
        client.cookies.set("euconsent-v2", tc_string(1, 2, 3, 4), domain="127.0.0.1")
        assert set_cookie_names(client.get("/")) == {"sessionid", "_fbp"}
    with running(make_gateway(consent_source=["tcf"])) as base, httpx.Client(base_url=base) as c:
        c.cookies.set("euconsent-v2", measured, domain="127.0.0.1")
        assert set_cookie_names(c.get("/")) == {"sessionid"}  # the file's table: no analytics


def test_a_gpp_opt_out_of_sale_refuses_marketing_through_the_server(
    make_gateway: Gateway,
) -> None:
    mapping = GppMapping.load()
    by_marketing: dict[bool, str] = {}
    for entry in library_strings(7, 60):
        granted = gpp_categories(decode_gpp(entry["string"]), mapping)
        if granted is not None:
            by_marketing.setdefault(Category.MARKETING in granted, entry["string"])
    opted_out, not_opted_out = by_marketing[False], by_marketing[True]
    with (
        running(make_gateway(consent_source=["gpp"], default_regime="opt-out")) as base,
        httpx.Client(base_url=base) as client,
    ):
        client.cookies.set("__gpp", not_opted_out, domain="127.0.0.1")
        assert set_cookie_names(client.get("/")) == {"sessionid", "_ga", "_fbp"}
        assert client.get("/_consent/state").json()["categories"] == ALL
        client.cookies.set("__gpp", opted_out, domain="127.0.0.1")
        assert set_cookie_names(client.get("/")) == {"sessionid", "_ga"}
        state = client.get("/_consent/state").json()
        assert state["source"] == Source.GPP.value and state["categories"]["marketing"] is False
